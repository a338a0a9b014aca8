/* dcalld: the dcall server. Subcommands: (none) serve, `account create`, `backup`. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/crypto.h"
#include "common/log.h"
#include "common/util.h"
#include "server/assets.h"
#include "server/relay.h"
#include "server/server.h"
#include "server/webauth.h"

static void dc__usage(FILE *f)
{
    fprintf(
        f,
        "usage: dcalld [--listen HOST:PORT] [--data DIR] [--db URL] [--ring-timeout S]\n"
        "              [--reconnect-grace S] [--drain-timeout S] [--tls-cert F --tls-key F]\n"
        "              [--media-port P] [--media-tcp-port P] [--media-workers N] [--public-ip IP]\n"
        "              [--no-media] [--no-media-tcp] [--dashboard-dir DIR]\n"
        "              [--webhook-allow-private] [--trust-proxy]\n"
        "              [--log-level debug|info|warn|error] [--test-mode]\n"
        "       dcalld account create --data DIR --name NAME\n"
        "       dcalld backup --data DIR FILE\n");
}

static int dc__parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

static int dc__parse_listen(const char *s, dc__server_config *cfg)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || (size_t)(colon - s) >= sizeof cfg->listen_host)
        return -1;
    memcpy(cfg->listen_host, s, (size_t)(colon - s));
    cfg->listen_host[colon - s] = '\0';
    return dc__parse_int(colon + 1, 0, 65535, &cfg->listen_port);
}

/* An existing directory, kept without a trailing slash. */
static int dc__parse_dir(const char *s, char *out, size_t n)
{
    struct stat st;
    size_t len = strlen(s);
    while (len > 1 && s[len - 1] == '/')
        len--;
    if (len == 0 || len >= n || stat(s, &st) != 0 || !S_ISDIR(st.st_mode))
        return -1;
    memcpy(out, s, len);
    out[len] = '\0';
    return 0;
}

/* Parses options; positional arguments are collected into pos. */
static int dc__parse_args(int argc, char **argv, dc__server_config *cfg, const char **name,
                          const char **pos, int *npos)
{
    *npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;
        if (!strcmp(a, "--test-mode")) {
            cfg->test_mode = 1;
            continue;
        }
        if (!strcmp(a, "--no-media")) {
            cfg->media_port = -1;
            continue;
        }
        if (!strcmp(a, "--trust-proxy")) {
            cfg->trust_proxy = 1;
            continue;
        }
        if (!strcmp(a, "--webhook-allow-private")) {
            cfg->webhook_private = 1;
            continue;
        }
        if (!strcmp(a, "--no-media-tcp")) {
            cfg->media_tcp_port = -1;
            continue;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            dc__usage(stdout);
            exit(0);
        }
        if (strncmp(a, "--", 2) != 0) {
            if (*npos < 8)
                pos[(*npos)++] = a;
            continue;
        }
        if (!v) {
            fprintf(stderr, "dcalld: %s needs a value\n", a);
            return -1;
        }
        i++;
        if (!strcmp(a, "--listen"))
            bad = dc__parse_listen(v, cfg);
        else if (!strcmp(a, "--data"))
            snprintf(cfg->data_dir, sizeof cfg->data_dir, "%s", v);
        else if (!strcmp(a, "--db"))
            snprintf(cfg->db_url, sizeof cfg->db_url, "%s", v);
        else if (!strcmp(a, "--ring-timeout"))
            bad = dc__parse_int(v, 1, 600, &cfg->ring_timeout_s);
        else if (!strcmp(a, "--reconnect-grace"))
            bad = dc__parse_int(v, 1, 600, &cfg->grace_s);
        else if (!strcmp(a, "--drain-timeout"))
            bad = dc__parse_int(v, 0, 3600, &cfg->drain_s);
        else if (!strcmp(a, "--tls-cert"))
            snprintf(cfg->tls_cert, sizeof cfg->tls_cert, "%s", v);
        else if (!strcmp(a, "--tls-key"))
            snprintf(cfg->tls_key, sizeof cfg->tls_key, "%s", v);
        else if (!strcmp(a, "--media-port"))
            bad = dc__parse_int(v, 0, 65535, &cfg->media_port);
        else if (!strcmp(a, "--media-tcp-port"))
            bad = dc__parse_int(v, 0, 65535, &cfg->media_tcp_port);
        else if (!strcmp(a, "--media-workers"))
            bad = dc__parse_int(v, 1, 64, &cfg->media_workers);
        else if (!strcmp(a, "--public-ip"))
            snprintf(cfg->public_ip, sizeof cfg->public_ip, "%s", v);
        else if (!strcmp(a, "--dashboard-dir"))
            bad = dc__parse_dir(v, cfg->dashboard_dir, sizeof cfg->dashboard_dir);
        else if (!strcmp(a, "--name"))
            *name = v;
        else if (!strcmp(a, "--log-level")) {
            enum dc__log_level lvl;
            bad = dc__log_parse_level(v, &lvl);
            if (!bad)
                dc__log_set_level(lvl);
        } else {
            fprintf(stderr, "dcalld: unknown option %s\n", a);
            return -1;
        }
        if (bad) {
            fprintf(stderr, "dcalld: bad value for %s: %s\n", a, v);
            return -1;
        }
    }
    if (!!cfg->tls_cert[0] != !!cfg->tls_key[0]) {
        fprintf(stderr, "dcalld: --tls-cert and --tls-key go together\n");
        return -1;
    }
    return 0;
}

static int dc__open_store(dc__server *srv)
{
    mkdir(srv->cfg.data_dir, 0700);
    int rc = dc__master_key_load(srv->cfg.data_dir, srv->master_key);
    if (rc < 0) {
        fprintf(stderr, "dcalld: cannot read or create %s/master.key: %s\n", srv->cfg.data_dir,
                dc_strerror(rc));
        return rc;
    }
    rc = dc__store_open(srv->cfg.db_url, srv->cfg.data_dir, srv->master_key, &srv->store);
    if (rc < 0)
        fprintf(stderr, "dcalld: cannot open the store in %s: %s\n", srv->cfg.data_dir,
                dc_strerror(rc));
    return rc;
}

static int dc__cmd_account_create(dc__server *srv, const char *name)
{
    if (!name || !*name || strlen(name) > 200) {
        fprintf(stderr, "dcalld: account create needs --name (1-200 characters)\n");
        return 2;
    }
    if (dc__open_store(srv) < 0)
        return 1;
    dc__account *a = NULL;
    int rc = dc__store_account_create(srv->store, name, &a);
    if (rc < 0) {
        fprintf(stderr, "dcalld: account create failed: %s\n", dc_strerror(rc));
        return 1;
    }
    json_t *out = json_pack("{ss ss ss}", "account_id", a->id, "api_key", a->api_key, "api_secret",
                            a->api_secret);
    char *text = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER);
    printf("%s\n", text);
    free(text);
    json_decref(out);
    dc__account_free(a);
    return 0;
}

static int dc__cmd_backup(dc__server *srv, const char *file)
{
    if (!file) {
        fprintf(stderr, "dcalld: backup needs a destination FILE\n");
        return 2;
    }
    if (dc__open_store(srv) < 0)
        return 1;
    int rc = dc__store_backup(srv->store, file);
    if (rc < 0) {
        fprintf(stderr, "dcalld: backup to %s failed: %s\n", file, dc_strerror(rc));
        return 1;
    }
    fprintf(stderr, "dcalld: backup written to %s\n", file);
    return 0;
}

static int dc__lock_data_dir(dc__server *srv)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/dcalld.lock", srv->cfg.data_dir);
    srv->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (srv->lock_fd < 0 || flock(srv->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        fprintf(stderr, "dcalld: %s (%s)\n", dc_strerror(DC_ELOCKED), srv->cfg.data_dir);
        return DC_ELOCKED;
    }
    return 0;
}

static void dc__walk_close(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* Second half of stopping: once the sockets have had their close frames out (or 2 s passed). */
static void dc__stop_final(uv_timer_t *t)
{
    dc__server *srv = t->data;
    if (srv->n_conns > 0 && dc__mono_ms() < srv->stop_deadline_ms)
        return; /* the repeating timer checks again */
    dc__session *s, *tmp;
    uv_timer_stop(&srv->drain_timer);
    if (srv->relay) {
        dc__relay_stop(srv->relay);
        srv->relay = NULL;
    }
    dc__outbox_stop(srv);
    dc__http_stop(srv);
    HASH_ITER(hh, srv->sessions, s, tmp)
    dc__session_destroy(s);
    uv_signal_stop(&srv->sig_term);
    uv_signal_stop(&srv->sig_int);
    uv_stop(srv->loop);
}

/* Tells every device the server goes away (close 1001), then lets the loop send it. */
static void dc__shutdown(dc__server *srv)
{
    if (srv->stopping)
        return;
    srv->stopping = 1;
    DC_INFO("dcalld", "stopping");
    dc__session *s, *tmp;
    HASH_ITER(hh, srv->sessions, s, tmp)
    {
        if (s->conn)
            dc__conn_close(s->conn, 1001, "server stopping");
    }
    srv->stop_deadline_ms = dc__mono_ms() + 2000;
    uv_timer_start(&srv->drain_timer, dc__stop_final, 20, 20);
}

static void dc__drain_done(uv_timer_t *t)
{
    dc__server *srv = t->data;
    while (srv->calls)
        dc__call_end(srv->calls, "failed", "server_shutdown", "server");
    dc__shutdown(srv);
}

static void dc__on_drained(dc__server *srv)
{
    uv_timer_start(&srv->drain_timer, dc__drain_done, 0, 0);
}

static void dc__on_signal(uv_signal_t *h, int sig)
{
    dc__server *srv = h->data;
    if (srv->stopping)
        return; /* already closing sockets; dc__stop_final ends it within 2 s */
    if (srv->draining || !srv->calls) {
        DC_INFO("dcalld", "signal %d: stopping now", sig);
        srv->draining = 1;
        uv_timer_start(&srv->drain_timer, dc__drain_done, 0, 0);
        return;
    }
    srv->draining = 1;
    DC_INFO("dcalld", "signal %d: draining; live calls get %d s", sig, srv->cfg.drain_s);
    uv_timer_start(&srv->drain_timer, dc__drain_done, (uint64_t)srv->cfg.drain_s * 1000, 0);
}

/* The media relay on the listen host (or --public-ip in candidates), one worker per core. */
static int dc__media_start(dc__server *srv)
{
    if (srv->cfg.media_port < 0)
        return 0;
    dc__relay_config rc;
    memset(&rc, 0, sizeof rc);
    snprintf(rc.bind_ip, sizeof rc.bind_ip, "%s", srv->cfg.listen_host);
    snprintf(rc.public_ip, sizeof rc.public_ip, "%s",
             srv->cfg.public_ip[0] ? srv->cfg.public_ip : srv->cfg.listen_host);
    rc.port = srv->cfg.media_port;
    rc.tcp = srv->cfg.media_tcp_port >= 0;
    rc.tcp_port = rc.tcp ? srv->cfg.media_tcp_port : 0;
    rc.workers =
        srv->cfg.media_workers > 0 ? srv->cfg.media_workers : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (rc.workers < 1)
        rc.workers = 1;
    int rc_ =
        dc__relay_start(&rc, srv->loop, srv->cfg.grace_s, dc__call_media_event, srv, &srv->relay);
    if (rc_ < 0) {
        fprintf(stderr, "dcalld: cannot start the media relay on %s: %s\n", rc.bind_ip,
                dc_strerror(rc_));
        return rc_;
    }
    for (int i = 0; i < rc.workers; i++)
        DC_INFO("dcalld", "media relay worker %d on udp %s:%d, tcp %d", i, rc.bind_ip,
                dc__relay_udp_port(srv->relay, i), rc.tcp ? dc__relay_tcp_port(srv->relay, i) : -1);
    return 0;
}

static void dc__raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int dc__serve(dc__server *srv)
{
    mkdir(srv->cfg.data_dir, 0700);
    if (dc__lock_data_dir(srv) < 0)
        return 1;
    if (dc__open_store(srv) < 0)
        return 1;
    int closed = 0;
    if (dc__calls_recover(srv, &closed) < 0) {
        fprintf(stderr, "dcalld: crash recovery failed\n");
        return 1;
    }
    if (closed)
        DC_INFO("dcalld", "recovery: %d call(s) left open by a crash closed as failed", closed);
    dc__raise_nofile();
    signal(SIGPIPE, SIG_IGN);
    srv->loop = uv_default_loop();
    uv_timer_init(srv->loop, &srv->drain_timer);
    srv->drain_timer.data = srv;
    srv->on_drained = dc__on_drained;
    uv_signal_init(srv->loop, &srv->sig_term);
    uv_signal_init(srv->loop, &srv->sig_int);
    srv->sig_term.data = srv->sig_int.data = srv;
    uv_signal_start(&srv->sig_term, dc__on_signal, SIGTERM);
    uv_signal_start(&srv->sig_int, dc__on_signal, SIGINT);
    if (dc__outbox_start(srv) < 0 || dc__http_start(srv) < 0 || dc__media_start(srv) < 0) {
        fprintf(stderr, "dcalld: cannot start\n");
        return 1;
    }
    srv->ready = 1;
    printf("dcalld listening on %s://%s:%d\n", srv->cfg.tls_cert[0] ? "https" : "http",
           srv->cfg.listen_host, srv->cfg.listen_port);
    fflush(stdout);
    DC_INFO("dcalld", "serving; data in %s", srv->cfg.data_dir);
    uv_run(srv->loop, UV_RUN_DEFAULT);
    uv_walk(srv->loop, dc__walk_close, NULL);
    uv_run(srv->loop, UV_RUN_DEFAULT);
    uv_loop_close(srv->loop);
    return 0;
}

static void dc__server_free(dc__server *srv)
{
    dc__acct_cache *e, *tmp;
    HASH_ITER(hh, srv->accounts, e, tmp)
    {
        HASH_DEL(srv->accounts, e);
        dc__account_free(e->acct);
        free(e);
    }
    dc__webauth_free(srv);
    if (srv->store)
        dc__store_close(srv->store);
    if (srv->lock_fd > 0)
        close(srv->lock_fd);
}

int main(int argc, char **argv)
{
    static dc__server srv;
    const char *name = NULL, *pos[8];
    int npos = 0;
    snprintf(srv.cfg.listen_host, sizeof srv.cfg.listen_host, "127.0.0.1");
    srv.cfg.listen_port = 8080;
    snprintf(srv.cfg.data_dir, sizeof srv.cfg.data_dir, "./var");
    srv.cfg.ring_timeout_s = 35;
    srv.cfg.grace_s = 20;
    srv.cfg.drain_s = 30;
    srv.lock_fd = -1;
#ifdef DC_DASHBOARD_EMBEDDED
    srv.assets = &dc__dashboard_embedded;
#endif
    if (dc__parse_args(argc, argv, &srv.cfg, &name, pos, &npos) < 0) {
        dc__usage(stderr);
        return 2;
    }
    int rc;
    if (npos >= 2 && !strcmp(pos[0], "account") && !strcmp(pos[1], "create"))
        rc = dc__cmd_account_create(&srv, name);
    else if (npos >= 1 && !strcmp(pos[0], "backup"))
        rc = dc__cmd_backup(&srv, npos >= 2 ? pos[1] : NULL);
    else if (npos == 0)
        rc = dc__serve(&srv);
    else {
        dc__usage(stderr);
        return 2;
    }
    dc__server_free(&srv);
    return rc;
}
