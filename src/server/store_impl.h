/* Internal to the store: the function table a backend fills, and what backends share. store.c
 * checks arguments that do not depend on the backend (list filters, cursors) and dispatches; a
 * backend's handle starts with struct dc__store. Nothing outside src/server/store*.c includes
 * this. */
#ifndef DC_SERVER_STORE_IMPL_H
#define DC_SERVER_STORE_IMPL_H

#include "server/store.h"

/* A parsed dc__call_filter: status is a reason unless by_state; cursor_id is NULL on page 1. */
typedef struct dc__call_query {
    const dc__call_filter *f;
    int by_state;
    int64_t cursor_ms;
    const char *cursor_id;
} dc__call_query;

struct dc__store_ops {
    void (*close)(dc__store *s);
    int (*backup)(dc__store *s, const char *dest_path);
    int (*schema_version)(dc__store *s, int *out);
    int (*account_create)(dc__store *s, const char *name, dc__account **out);
    int (*account_get)(dc__store *s, const char *id, dc__account **out);
    int (*account_by_key)(dc__store *s, const char *api_key, dc__account **out);
    int (*account_update)(dc__store *s, const dc__account *a);
    int (*call_save)(dc__store *s, const dc__call_rec *r, dc__outbox_item *items, size_t n);
    int (*call_find_client)(dc__store *s, const char *account_id, const char *caller,
                            const char *client_call_id, int64_t since_ms, dc__call_rec **out);
    int (*call_load)(dc__store *s, const char *account_id, const char *id, dc__call_rec **out);
    int (*calls_list)(dc__store *s, const char *account_id, const dc__call_query *q,
                      json_t **out_array, char **next_cursor);
    int (*calls_close_open)(dc__store *s, int64_t now_ms, const char *detail,
                            dc__recover_cb make_item, void *ud, int *n_closed);
    int (*stats_slots)(dc__store *s, const char *account_id, int64_t from_ms, int64_t to_ms,
                       dc__stats_cb cb, void *ud);
    int (*missed_add)(dc__store *s, const char *account_id, const char *cuid, const char *call_id,
                      const json_t *payload, int delivered);
    int (*missed_take)(dc__store *s, const char *account_id, const char *cuid, json_t **out);
    int (*missed_list)(dc__store *s, const char *account_id, const char *cuid, int limit,
                       json_t **out);
    int (*revoke_set)(dc__store *s, const char *account_id, const char *cuid, int64_t before_s);
    int (*revoke_get)(dc__store *s, const char *account_id, const char *cuid, int64_t *before_s);
    int (*outbox_due)(dc__store *s, int64_t now_ms, size_t max, dc__outbox_item **items, size_t *n);
    int (*outbox_done)(dc__store *s, int64_t id, int64_t now_ms, int http_status);
    int (*outbox_retry)(dc__store *s, int64_t id, int attempts, int64_t next_ms, const char *error);
    int (*outbox_fail)(dc__store *s, int64_t id, const char *error);
    int (*outbox_depth)(dc__store *s, int64_t *n);
    int (*outbox_log)(dc__store *s, const char *account_id, int limit, json_t **out);
};

struct dc__store {
    const struct dc__store_ops *ops;
};

/* Opens (creating and migrating) the SQLite database at path. */
int dc__store_sqlite_open(const char *path, const unsigned char master_key[32], dc__store **out);
/* Connects to PostgreSQL with url (a libpq connection URI, passed as is) and migrates. */
int dc__store_postgres_open(const char *url, const unsigned char master_key[32], dc__store **out);

/* {"logo_url":null,"background_color":"#FFFFFF","text_color":"#000000","button_theme":"default"} */
extern const char dc__store_default_branding[];
/* The opaque cursor that resumes a listing after the row (created_ms, id); malloc'd. */
char *dc__store_cursor_make(int64_t created_ms, const char *id);
/* ISO 8601 string, or null when ms <= 0. */
json_t *dc__store_json_time(int64_t ms);
/* The string, or null when v is NULL or empty. */
json_t *dc__store_json_str(const char *v);

#endif
