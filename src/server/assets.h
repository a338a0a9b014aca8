/* The dashboard's static files: served by dcalld for every path outside /v1, /healthz, /metrics
 * and /_test, from the copy embedded in the binary at build time (scripts/embed-assets.mjs writes
 * a dc__asset_set from `node web/dashboard/build.mjs`), or from a directory on disk
 * (`dcalld --dashboard-dir DIR`, read on every request, for development). */
#ifndef DC_SERVER_ASSETS_H
#define DC_SERVER_ASSETS_H

#include <stddef.h>

typedef struct dc__asset {
    const char *path;         /* URL path: "/index.html", "/assets/app-HASH.js" */
    const char *content_type; /* "text/javascript; charset=utf-8" */
    const char *etag;         /* quoted strong ETag of the raw bytes (a hash of them) */
    const unsigned char *data;
    size_t len;
    const unsigned char *gz; /* gzip (level 9) of data; NULL when that is not smaller */
    size_t gz_len;
} dc__asset;

/* Sorted by path (byte order), so lookups are a binary search. */
typedef struct dc__asset_set {
    const dc__asset *v;
    size_t n;
} dc__asset_set;

/* The dashboard embedded in dcalld; defined by the generated source that only the dcalld
 * executable links (tests that link dc_server alone run without a dashboard). */
extern const dc__asset_set dc__dashboard_embedded;

struct dc__server;
struct dc__http_req;
/* Answers r when its path belongs to the dashboard (returns 1), else leaves it (returns 0). GET
 * and HEAD: the exact file, else index.html for extensionless paths (client-side routes), else
 * 404; other methods 405. Sets Cache-Control, ETag (304 on If-None-Match), gzip when the request
 * accepts it, and the security headers (docs/dashboard.md, "Assets"). */
int dc__assets_handle(struct dc__server *srv, struct dc__http_req *r);

/* The Content-Type dcalld sends for a file name (by extension; application/octet-stream when
 * unknown). The embedding script uses the same table. */
const char *dc__assets_content_type(const char *name);

#endif
