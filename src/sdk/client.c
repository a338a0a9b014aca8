/* libdcall public API: argument checks on the caller's thread, then a command handed to the loop
 * thread through a mutex-protected queue and a uv_async wake-up. */
#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_priv.h"
#include "media.h"
#include "common/util.h"
#include "common/validate.h"

static uv_once_t lws_log_once = UV_ONCE_INIT;

static void lws_log_quiet(void)
{
    /* lws logs notices on stderr by default; the CLI's stderr is for people. */
    const char *lvl = getenv("DCALL_LWS_LOG");
    lws_set_log_level(lvl ? atoi(lvl) : 0, NULL);
}

static void free_cfg(dc_config *cfg)
{
    free((char *)cfg->server_url);
    free((char *)cfg->token);
    free((char *)cfg->account_id);
    free((char *)cfg->api_key);
    free((char *)cfg->cuid);
    free((char *)cfg->name);
    free((char *)cfg->audio_in);
    free((char *)cfg->audio_out);
    free((char *)cfg->ca_file);
}

static int dup_opt(const char *in, const char **out)
{
    *out = NULL;
    if (!in)
        return 0;
    *out = strdup(in);
    return *out ? 0 : DC_ENOMEM;
}

static int check_cfg(const dc_config *cfg, struct dc__url *url)
{
    int rc;
    if (!cfg || !cfg->server_url)
        return DC_EINVAL;
    if ((rc = dc__sdk_parse_url(cfg->server_url, url)) != 0)
        return rc;
    if (cfg->token) {
        if (!*cfg->token || strlen(cfg->token) > 8192)
            return DC_ETOKEN;
    } else if (!cfg->account_id || !cfg->api_key || !cfg->cuid) {
        return DC_EINVAL;
    }
    if (cfg->cuid && (rc = dc__valid_cuid(cfg->cuid)) != 0)
        return rc;
    if (cfg->name && (rc = dc__valid_name(cfg->name)) != 0)
        return rc;
    return 0;
}

static void free_client(struct dc_client *c)
{
    struct dc__cmd *cmd;
    while ((cmd = c->cq_head)) {
        c->cq_head = cmd->next;
        free(cmd->text);
        free(cmd);
    }
    uv_mutex_destroy(&c->mu);
    free_cfg(&c->cfg);
    free(c);
}

static void drain_commands(uv_async_t *a)
{
    struct dc_client *c = a->data;
    for (;;) {
        uv_mutex_lock(&c->mu);
        struct dc__cmd *cmd = c->cq_head;
        if (cmd) {
            c->cq_head = cmd->next;
            if (!c->cq_head)
                c->cq_tail = NULL;
        }
        uv_mutex_unlock(&c->mu);
        if (!cmd)
            return;
        if (c->destroying) {
            free(cmd->text);
            free(cmd);
            continue;
        }
        switch (cmd->kind) {
        case DC__CMD_CONNECT:
            dc__conn_start(c);
            break;
        case DC__CMD_DISCONNECT:
            dc__conn_disconnect(c, 0);
            break;
        case DC__CMD_LOGOUT:
            dc__conn_disconnect(c, 1);
            break;
        case DC__CMD_SEND:
            dc__conn_send(c, cmd->text);
            cmd->text = NULL;
            break;
        case DC__CMD_PLACE:
            dc__conn_place(c, cmd->text, cmd->ccid);
            cmd->text = NULL;
            break;
        case DC__CMD_NETCHANGE:
            dc__media_network_changed(c->media);
            break;
        case DC__CMD_DESTROY:
            dc__conn_destroy(c);
            break;
        }
        free(cmd->text);
        free(cmd);
    }
}

static void loop_thread(void *arg)
{
    struct dc_client *c = arg;
    uv_run(c->loop, UV_RUN_DEFAULT);
}

static int init_handles(struct dc_client *c)
{
    if (uv_async_init(c->loop, &c->async, drain_commands) != 0)
        return DC_EIO;
    c->async.data = c;
    uv_timer_init(c->loop, &c->retry_timer);
    uv_timer_init(c->loop, &c->place_timer);
    uv_timer_init(c->loop, &c->reap_timer);
    c->retry_timer.data = c->place_timer.data = c->reap_timer.data = c;
    c->handles_open = 4;
    /* Made here, before the loop thread runs (or on the host loop's thread), like the timers. */
    return dc__media_new(c, &c->media);
}

int dc_client_new(const dc_config *cfg, dc_client **out)
{
    struct dc__url url;
    int rc;
    if (!out)
        return DC_EINVAL;
    *out = NULL;
    if ((rc = check_cfg(cfg, &url)) != 0)
        return rc;
    uv_once(&lws_log_once, lws_log_quiet);
    struct dc_client *c = calloc(1, sizeof *c);
    if (!c)
        return DC_ENOMEM;
    atomic_init(&c->refs, 1);
    atomic_init(&c->mute, 0);
    atomic_init(&c->hold, 0);
    atomic_init(&c->gain_milli, 1000);
    c->url = url;
    snprintf(c->hostport, sizeof c->hostport, "%s:%d", url.host, url.port);
    c->cfg = *cfg;
    if (dup_opt(cfg->server_url, &c->cfg.server_url) || dup_opt(cfg->token, &c->cfg.token) ||
        dup_opt(cfg->account_id, &c->cfg.account_id) || dup_opt(cfg->api_key, &c->cfg.api_key) ||
        dup_opt(cfg->cuid, &c->cfg.cuid) || dup_opt(cfg->name, &c->cfg.name) ||
        dup_opt(cfg->audio_in, &c->cfg.audio_in) || dup_opt(cfg->audio_out, &c->cfg.audio_out) ||
        dup_opt(cfg->ca_file, &c->cfg.ca_file)) {
        free_cfg(&c->cfg);
        free(c);
        return DC_ENOMEM;
    }
    uv_mutex_init(&c->mu);
    c->own_thread = cfg->uv_loop == NULL;
    c->loop = c->own_thread ? &c->own_loop : cfg->uv_loop;
    if (c->own_thread && uv_loop_init(&c->own_loop) != 0) {
        free_client(c);
        return DC_EIO;
    }
    if (init_handles(c) != 0 ||
        (c->own_thread && uv_thread_create(&c->thread, loop_thread, c) != 0)) {
        /* Not reachable in practice (uv_async_init and thread creation fail only without fds or
         * memory); the handles stay with the loop, so leak rather than free under it. */
        return DC_EIO;
    }
    *out = c;
    return 0;
}

dc_client *dc_client_ref(dc_client *c)
{
    if (c)
        atomic_fetch_add(&c->refs, 1);
    return c;
}

static int enqueue(struct dc_client *c, enum dc__cmd_kind kind, char *text, const char *ccid)
{
    struct dc__cmd *cmd = calloc(1, sizeof *cmd);
    if (!cmd) {
        free(text);
        return DC_ENOMEM;
    }
    cmd->kind = kind;
    cmd->text = text;
    if (ccid)
        snprintf(cmd->ccid, sizeof cmd->ccid, "%s", ccid);
    uv_mutex_lock(&c->mu);
    if (c->cq_tail)
        c->cq_tail->next = cmd;
    else
        c->cq_head = cmd;
    c->cq_tail = cmd;
    uv_mutex_unlock(&c->mu);
    uv_async_send(&c->async);
    return 0;
}

/* Called on the loop thread once every handle of the client is closed. */
static void handle_closed(uv_handle_t *h)
{
    struct dc_client *c = h->data;
    if (--c->handles_open > 0)
        return;
    if (!c->own_thread)
        free_client(c); /* own-thread clients are freed by the unref that joins the thread */
}

static void reap_check(uv_timer_t *t)
{
    struct dc_client *c = t->data;
    /* On a foreign loop lws 4.1 closes its uv handles asynchronously and then waits for a second
     * lws_context_destroy, which frees the context and clears c->ctx (info.pcontext). */
    if (c->ctx) {
        if (c->ctx_destroy_calls == 1 && !dc__lws_handles_alive(c)) {
            c->ctx_destroy_calls = 2;
            lws_context_destroy(c->ctx);
        }
        if (c->ctx)
            return;
    }
    if (c->media) {
        if (!dc__media_close(c->media))
            return;
        dc__media_free(c->media);
        c->media = NULL;
    }
    uv_timer_stop(t);
    uv_close((uv_handle_t *)&c->async, handle_closed);
    uv_close((uv_handle_t *)&c->retry_timer, handle_closed);
    uv_close((uv_handle_t *)&c->place_timer, handle_closed);
    uv_close((uv_handle_t *)&c->reap_timer, handle_closed);
}

void dc__client_start_reap(struct dc_client *c)
{
    uv_timer_stop(&c->retry_timer);
    uv_timer_stop(&c->place_timer);
    uv_timer_start(&c->reap_timer, reap_check, 0, 5);
}

void dc_client_unref(dc_client *c)
{
    if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    enqueue(c, DC__CMD_DESTROY, NULL, NULL);
    if (c->own_thread) {
        uv_thread_join(&c->thread);
        uv_loop_close(&c->own_loop);
        free_client(c);
    }
}

int dc_client_connect(dc_client *c)
{
    return c ? enqueue(c, DC__CMD_CONNECT, NULL, NULL) : DC_EINVAL;
}

int dc_client_disconnect(dc_client *c)
{
    return c ? enqueue(c, DC__CMD_DISCONNECT, NULL, NULL) : DC_EINVAL;
}

int dc_client_logout(dc_client *c)
{
    return c ? enqueue(c, DC__CMD_LOGOUT, NULL, NULL) : DC_EINVAL;
}

static int check_place(const dc_client *c, const dc_call_params *p)
{
    int rc;
    if (!p)
        return DC_EINVAL;
    if ((rc = dc__valid_cuid(p->to)) != 0)
        return rc;
    if (c->cfg.cuid && strcmp(c->cfg.cuid, p->to) == 0)
        return DC_ESELF;
    if ((rc = dc__valid_context(p->context)) != 0)
        return rc;
    if (p->remote_context && (rc = dc__valid_context(p->remote_context)) != 0)
        return rc;
    if (p->caller_image && (rc = dc__valid_url(p->caller_image)) != 0)
        return rc;
    if (p->callee_image && (rc = dc__valid_url(p->callee_image)) != 0)
        return rc;
    if (p->client_call_id && (rc = dc__valid_id(p->client_call_id)) != 0)
        return rc;
    return 0;
}

int dc_client_place(dc_client *c, const dc_call_params *p, char *client_call_id_out)
{
    char ccid[65];
    char *text = NULL;
    int rc;
    if (!c)
        return DC_EINVAL;
    if ((rc = check_place(c, p)) != 0)
        return rc;
    if (p->client_call_id)
        snprintf(ccid, sizeof ccid, "%s", p->client_call_id);
    else if ((rc = dc__random_id(ccid, "cc_", 24)) != 0)
        return rc;
    if ((rc = dc__sdk_place_json(p, ccid, &text)) != 0)
        return rc;
    if (client_call_id_out)
        memcpy(client_call_id_out, ccid, strlen(ccid) + 1);
    return enqueue(c, DC__CMD_PLACE, text, ccid);
}

static int call_op(dc_client *c, const char *type, const char *call_id, const char *detail)
{
    char *text = NULL;
    int rc;
    if (!c)
        return DC_EINVAL;
    if ((rc = dc__valid_id(call_id)) != 0)
        return rc;
    if (detail && (rc = dc__valid_id(detail)) != 0)
        return DC_EINVAL;
    if ((rc = dc__sdk_op_json(type, call_id, detail, &text)) != 0)
        return rc;
    return enqueue(c, DC__CMD_SEND, text, NULL);
}

int dc_client_answer(dc_client *c, const char *call_id)
{
    return call_op(c, "answer", call_id, NULL);
}

int dc_client_decline(dc_client *c, const char *call_id, const char *detail)
{
    return call_op(c, "decline", call_id, detail);
}

int dc_client_cancel(dc_client *c, const char *call_id)
{
    return call_op(c, "cancel", call_id, NULL);
}

int dc_client_hangup(dc_client *c, const char *call_id)
{
    return call_op(c, "hangup", call_id, NULL);
}

int dc_client_set_mute(dc_client *c, int muted)
{
    if (!c)
        return DC_EINVAL;
    atomic_store(&c->mute, muted ? 1 : 0);
    return 0;
}

int dc_client_set_hold(dc_client *c, int held)
{
    if (!c)
        return DC_EINVAL;
    atomic_store(&c->hold, held ? 1 : 0);
    return 0;
}

int dc_client_set_output_volume(dc_client *c, double gain)
{
    if (!c || !(gain >= 0.0 && gain <= 4.0))
        return DC_EINVAL;
    atomic_store(&c->gain_milli, (int)(gain * 1000.0 + 0.5));
    return 0;
}

int dc_client_network_changed(dc_client *c)
{
    return c ? enqueue(c, DC__CMD_NETCHANGE, NULL, NULL) : DC_EINVAL;
}

int dc_audio_devices(char **out)
{
    if (!out)
        return DC_EINVAL;
    *out = NULL;
    return dc__voice_list_devices(out);
}

void dc__client_emit(struct dc_client *c, dc_event *ev)
{
    ev->ts_ms = dc__now_ms();
    if (c->cfg.on_event && !c->destroying)
        c->cfg.on_event(c, ev, c->cfg.userdata);
}
