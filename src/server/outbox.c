/* The outbox worker: delivers webhooks written to the store in the same transaction as the call
 * change that caused them, on its own thread with its own store handle. Failed deliveries are
 * retried with exponential backoff (5 s doubling, capped at 1 h) for 24 h from creation. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>

#include "common/crypto.h"
#include "common/log.h"
#include "common/util.h"
#include "server/server.h"

#define DC__OUTBOX_GIVE_UP_MS (24LL * 3600 * 1000)
#define DC__OUTBOX_MAX_BACKOFF_MS (3600LL * 1000)

typedef struct dc__outbox {
    dc__server *srv;
    dc__store *store;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    int woken;
    int started;
} dc__outbox;

static size_t dc__discard(char *p, size_t sz, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return sz * n;
}

/* Addresses a webhook may not reach unless the operator allows it (--webhook-allow-private):
 * anyone who can sign up sets a webhook URL, and the delivery log shows what answered, so without
 * this an account could probe the server's own network (loopback, private ranges, link-local
 * cloud metadata). Checked on the address curl actually connects to, so DNS tricks and
 * redirects do not get around it. */
static int dc__addr_private(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET6) {
        const unsigned char *b = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (!memcmp(b, mapped, 12)) {
            struct sockaddr_in v4 = {.sin_family = AF_INET};
            memcpy(&v4.sin_addr, b + 12, 4);
            return dc__addr_private((const struct sockaddr *)&v4);
        }
        static const unsigned char zero[16] = {0};
        int unspec_or_loop = !memcmp(b, zero, 15) && b[15] <= 1; /* :: and ::1 */
        return unspec_or_loop || (b[0] & 0xfe) == 0xfc /* fc00::/7 */ ||
               (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) /* fe80::/10 */ || b[0] == 0xff;
    }
    if (sa->sa_family != AF_INET)
        return 1;
    uint32_t a = ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr);
    return (a >> 24) == 0 || (a >> 24) == 10 || (a >> 24) == 127 || (a >> 16) == 0xa9fe ||
           (a >> 20) == 0xac1 || (a >> 16) == 0xc0a8 || (a >> 22) == (100 << 2 | 1) ||
           (a >> 28) >= 0xe; /* 0/8 10/8 127/8 169.254/16 172.16/12 192.168/16 100.64/10 mcast */
}

typedef struct dc__dest_guard {
    int allow_private;
    char refused[INET6_ADDRSTRLEN];
} dc__dest_guard;

static curl_socket_t dc__open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
    dc__dest_guard *g = ud;
    (void)purpose;
    if (!g->allow_private && dc__addr_private(&a->addr)) {
        const void *ip = a->family == AF_INET6
                             ? (const void *)&((struct sockaddr_in6 *)(void *)&a->addr)->sin6_addr
                             : (const void *)&((struct sockaddr_in *)(void *)&a->addr)->sin_addr;
        if (!inet_ntop(a->family, ip, g->refused, sizeof g->refused))
            snprintf(g->refused, sizeof g->refused, "?");
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype, a->protocol);
}

/* POSTs one webhook. Returns the HTTP status, or 0 with err filled on a transport error. */
static long dc__deliver(const dc__outbox_item *it, const char *secret, int allow_private, char *err,
                        size_t errn)
{
    dc__dest_guard guard = {.allow_private = allow_private};
    CURL *h = curl_easy_init();
    if (!h) {
        snprintf(err, errn, "curl init failed");
        return 0;
    }
    char ts[32], sig[65], hdr_ts[64], hdr_sig[96];
    snprintf(ts, sizeof ts, "%lld", (long long)(dc__now_ms() / 1000));
    size_t blen = strlen(it->body), mlen = strlen(ts) + 1 + blen;
    char *msg = malloc(mlen + 1);
    if (!msg) {
        curl_easy_cleanup(h);
        snprintf(err, errn, "out of memory");
        return 0;
    }
    snprintf(msg, mlen + 1, "%s.%s", ts, it->body);
    dc__hmac_sha256_hex(secret ? secret : "", secret ? strlen(secret) : 0, msg, mlen, sig);
    free(msg);
    snprintf(hdr_ts, sizeof hdr_ts, "X-Dcall-Timestamp: %s", ts);
    snprintf(hdr_sig, sizeof hdr_sig, "X-Dcall-Signature: v1=%s", sig);
    struct curl_slist *hdrs = NULL;
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, "User-Agent: dcall-webhooks/1");
    hdrs = curl_slist_append(hdrs, hdr_ts);
    hdrs = curl_slist_append(hdrs, hdr_sig);
    char ebuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, it->url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, it->body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)blen);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROXY, "");
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, dc__discard);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, dc__open_socket);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, &guard);
    long status = 0;
    CURLcode rc = curl_easy_perform(h);
    if (rc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    else if (guard.refused[0])
        snprintf(err, errn,
                 "destination %s is a loopback, private or link-local address "
                 "(dcalld --webhook-allow-private allows it)",
                 guard.refused);
    else
        snprintf(err, errn, "%s", ebuf[0] ? ebuf : curl_easy_strerror(rc));
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return status;
}

static void dc__outbox_one(dc__outbox *ob, const dc__outbox_item *it)
{
    dc__account *a = NULL;
    char err[CURL_ERROR_SIZE + 32] = "";
    long status = 0;
    if (dc__store_account_get(ob->store, it->account_id, &a) == 0)
        status = dc__deliver(it, a->webhook_secret, ob->srv->cfg.webhook_private, err, sizeof err);
    else
        snprintf(err, sizeof err, "account not found");
    dc__account_free(a);
    int64_t now = dc__now_ms();
    if (status >= 200 && status < 300) {
        dc__store_outbox_done(ob->store, it->id, now, (int)status);
        return;
    }
    if (status)
        snprintf(err, sizeof err, "HTTP %ld", status);
    if (now - it->created_ms >= DC__OUTBOX_GIVE_UP_MS) {
        DC_WARN("outbox", "giving up on delivery %lld after 24 h: %s", (long long)it->id, err);
        /* outbox_fail leaves attempts alone; count this last attempt first so the log is true */
        dc__store_outbox_retry(ob->store, it->id, it->attempts + 1, now, err);
        dc__store_outbox_fail(ob->store, it->id, err);
        return;
    }
    int64_t backoff = 5000;
    for (int i = 0; i < it->attempts && backoff < DC__OUTBOX_MAX_BACKOFF_MS; i++)
        backoff *= 2;
    if (backoff > DC__OUTBOX_MAX_BACKOFF_MS)
        backoff = DC__OUTBOX_MAX_BACKOFF_MS;
    DC_INFO("outbox", "delivery %lld failed (%s); retry in %lld ms", (long long)it->id, err,
            (long long)backoff);
    dc__store_outbox_retry(ob->store, it->id, it->attempts + 1, now + backoff, err);
}

static void *dc__outbox_main(void *arg)
{
    dc__outbox *ob = arg;
    pthread_mutex_lock(&ob->mu);
    while (!ob->stop) {
        pthread_mutex_unlock(&ob->mu);
        dc__outbox_item *items = NULL;
        size_t n = 0;
        if (dc__store_outbox_due(ob->store, dc__now_ms(), 32, &items, &n) == 0) {
            for (size_t i = 0; i < n && !ob->stop; i++)
                dc__outbox_one(ob, &items[i]);
            dc__outbox_items_free(items, n);
        }
        pthread_mutex_lock(&ob->mu);
        if (n == 32 || ob->woken) {
            ob->woken = 0;
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 500000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        if (!ob->stop && !ob->woken)
            pthread_cond_timedwait(&ob->cv, &ob->mu, &ts);
        ob->woken = 0;
    }
    pthread_mutex_unlock(&ob->mu);
    return NULL;
}

int dc__outbox_start(dc__server *srv)
{
    dc__outbox *ob = calloc(1, sizeof *ob);
    if (!ob)
        return DC_ENOMEM;
    ob->srv = srv;
    int rc = dc__store_open(srv->cfg.db_url, srv->cfg.data_dir, srv->master_key, &ob->store);
    if (rc < 0) {
        free(ob);
        return rc;
    }
    pthread_mutex_init(&ob->mu, NULL);
    pthread_cond_init(&ob->cv, NULL);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (pthread_create(&ob->thread, NULL, dc__outbox_main, ob) != 0) {
        dc__store_close(ob->store);
        free(ob);
        return DC_EIO;
    }
    ob->started = 1;
    srv->outbox = ob;
    return 0;
}

void dc__outbox_wake(dc__server *srv)
{
    dc__outbox *ob = srv->outbox;
    if (!ob)
        return;
    pthread_mutex_lock(&ob->mu);
    ob->woken = 1;
    pthread_cond_signal(&ob->cv);
    pthread_mutex_unlock(&ob->mu);
}

void dc__outbox_stop(dc__server *srv)
{
    dc__outbox *ob = srv->outbox;
    if (!ob)
        return;
    pthread_mutex_lock(&ob->mu);
    ob->stop = 1;
    pthread_cond_signal(&ob->cv);
    pthread_mutex_unlock(&ob->mu);
    pthread_join(ob->thread, NULL);
    dc__store_close(ob->store);
    pthread_mutex_destroy(&ob->mu);
    pthread_cond_destroy(&ob->cv);
    curl_global_cleanup();
    free(ob);
    srv->outbox = NULL;
}
