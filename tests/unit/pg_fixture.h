/* A throwaway PostgreSQL 15 server for tests: initdb into a temp dir, postgres on 127.0.0.1 and a
 * free port (run as the `postgres` user when the test runs as root), a fresh database per test,
 * and a stop that deletes everything. Missing binaries are an error, never a skip: CI installs
 * them (scripts/install-deps). DCALL_PG_BINDIR overrides /usr/lib/postgresql/15/bin. */
#ifndef DC_TESTS_PG_FIXTURE_H
#define DC_TESTS_PG_FIXTURE_H

#include <stddef.h>
#include <sys/types.h>

typedef struct pg_fixture {
    char dir[128]; /* the temp dir: data/ inside it, the Unix socket next to it */
    char pgdata[160];
    int port;
    pid_t pid; /* the postmaster */
    int db_count;
} pg_fixture;

/* Starts the server; 0, or -1 after printing why on stderr. */
int pg_fixture_start(pg_fixture *f);
/* Creates a new empty database and writes its postgresql:// URL into url. 0 or -1. */
int pg_fixture_new_db(pg_fixture *f, char *url, size_t cap);
/* Runs one SQL statement as the superuser in database db ("postgres" when NULL). 0 or -1. */
int pg_fixture_exec(pg_fixture *f, const char *db, const char *sql);
/* 1 when needle occurs in any file of the cluster's data dir (after a CHECKPOINT), 0 when not,
 * -1 on error. Used to prove that secrets never reach the disk in plaintext. */
int pg_fixture_disk_contains(pg_fixture *f, const char *needle);
/* Stops the server (fast shutdown) and deletes the temp dir. */
void pg_fixture_stop(pg_fixture *f);

#endif
