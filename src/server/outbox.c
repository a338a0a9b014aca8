/* The outbox worker: delivers webhooks written to the store in the same transaction as the call
 * change that caused them, on its own thread with its own store handle. Failed deliveries are
 * retried with exponential backoff (5 s doubling, capped at 1 h) for 24 h from creation. */
#include <curl/curl.h>
#include <pthread.h>
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

/* POSTs one webhook. Returns the HTTP status, or 0 with err filled on a transport error. */
static long dc__deliver(const dc__outbox_item *it, const char *secret, char *err, size_t errn)
{
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
    long status = 0;
    CURLcode rc = curl_easy_perform(h);
    if (rc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
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
        status = dc__deliver(it, a->webhook_secret, err, sizeof err);
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
