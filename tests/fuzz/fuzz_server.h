/* Shared by the server fuzz targets: one dcalld server object with a real store in a temp dir and
 * one account, made on first use and removed at exit. Include once, from a fuzz target. */
#ifndef DC_FUZZ_SERVER_H
#define DC_FUZZ_SERVER_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "server/server.h"

static dc__server fz_srv;

static void fz_cleanup(void)
{
    char cmd[1200];
    dc__acct_cache *e, *t;
    HASH_ITER(hh, fz_srv.accounts, e, t)
    {
        HASH_DEL(fz_srv.accounts, e);
        dc__account_free(e->acct);
        free(e);
    }
    dc__store_close(fz_srv.store);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fz_srv.cfg.data_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", fz_srv.cfg.data_dir);
}

/* Makes the server and its account; returns the account (the caller frees it). */
static dc__account *fz_server_init(void)
{
    dc__log_set_level(DC__LOG_ERROR);
    char dir[] = "/tmp/dcall-fuzz-XXXXXX";
    if (!mkdtemp(dir))
        abort();
    snprintf(fz_srv.cfg.data_dir, sizeof fz_srv.cfg.data_dir, "%s", dir);
    fz_srv.cfg.ring_timeout_s = 35;
    fz_srv.cfg.grace_s = 20;
    memset(fz_srv.master_key, 7, sizeof fz_srv.master_key);
    fz_srv.loop = uv_default_loop();
    dc__account *a = NULL;
    if (dc__store_open(NULL, dir, fz_srv.master_key, &fz_srv.store) < 0 ||
        dc__store_account_create(fz_srv.store, "Fuzz", &a) < 0)
        abort();
    fz_srv.ready = 1;
    atexit(fz_cleanup);
    return a;
}

#endif
