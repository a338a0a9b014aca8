/* See pg_fixture.h. The server runs with fsync=off: a test cluster is thrown away anyway, and
 * durability is PostgreSQL's own business, not what these tests check. */
#include "pg_fixture.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PGFX_DEFAULT_BINDIR "/usr/lib/postgresql/15/bin"
#define PGFX_USER "dcall"

static void pgfx_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static const char *pgfx_bindir(void)
{
    const char *d = getenv("DCALL_PG_BINDIR");
    return d && *d ? d : PGFX_DEFAULT_BINDIR;
}

static void pgfx_print_log(const pg_fixture *f)
{
    char path[200];
    snprintf(path, sizeof path, "%s/postgres.log", f->dir);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return;
    char line[512];
    fprintf(stderr, "pg_fixture: --- %s ---\n", path);
    while (fgets(line, sizeof line, fp))
        fputs(line, stderr);
    fclose(fp);
}

/* Forks argv[0] with output to DIR/postgres.log, as the postgres user when we are root (the
 * server refuses to run as root). Returns the child's pid or -1. */
static pid_t pgfx_spawn(const pg_fixture *f, char *const argv[])
{
    struct passwd *pw = NULL;
    if (geteuid() == 0 && !(pw = getpwnam("postgres"))) {
        fprintf(stderr, "pg_fixture: running as root but there is no `postgres` user\n");
        return -1;
    }
    char log[200];
    snprintf(log, sizeof log, "%s/postgres.log", f->dir);
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
    }
    if (pw && (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0))
        _exit(126);
    /* a test that crashes must not leave a server behind */
    prctl(PR_SET_PDEATHSIG, SIGINT);
    execv(argv[0], argv);
    _exit(127);
}

static int pgfx_run(const pg_fixture *f, char *const argv[])
{
    pid_t pid = pgfx_spawn(f, argv);
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "pg_fixture: %s failed (status %d)\n", argv[0], st);
        pgfx_print_log(f);
        return -1;
    }
    return 0;
}

static int pgfx_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static void pgfx_conninfo(const pg_fixture *f, const char *db, char *out, size_t cap)
{
    snprintf(out, cap, "host=127.0.0.1 port=%d user=" PGFX_USER " dbname=%s connect_timeout=5",
             f->port, db ? db : "postgres");
}

static int pgfx_wait_ready(pg_fixture *f)
{
    char ci[160];
    pgfx_conninfo(f, NULL, ci, sizeof ci);
    for (int i = 0; i < 600; i++) {
        int st;
        if (waitpid(f->pid, &st, WNOHANG) == f->pid) {
            fprintf(stderr, "pg_fixture: postgres exited during startup\n");
            f->pid = 0;
            pgfx_print_log(f);
            return -1;
        }
        if (PQping(ci) == PQPING_OK)
            return 0;
        pgfx_sleep_ms(50);
    }
    fprintf(stderr, "pg_fixture: postgres did not accept connections within 30 s\n");
    pgfx_print_log(f);
    return -1;
}

static int pgfx_check_bins(char *initdb, char *postgres, size_t cap)
{
    snprintf(initdb, cap, "%s/initdb", pgfx_bindir());
    snprintf(postgres, cap, "%s/postgres", pgfx_bindir());
    if (access(initdb, X_OK) == 0 && access(postgres, X_OK) == 0)
        return 0;
    fprintf(stderr,
            "pg_fixture: FAIL: PostgreSQL 15 server binaries not found in %s (need initdb and "
            "postgres). Install Debian's `postgresql` package (scripts/install-deps does), or set "
            "DCALL_PG_BINDIR.\n",
            pgfx_bindir());
    return -1;
}

int pg_fixture_start(pg_fixture *f)
{
    char initdb[256], postgres[256], port[16], sock_opt[160];
    memset(f, 0, sizeof *f);
    if (pgfx_check_bins(initdb, postgres, sizeof initdb))
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/dcall-pg-XXXXXX");
    if (!mkdtemp(f->dir)) {
        fprintf(stderr, "pg_fixture: mkdtemp: %s\n", strerror(errno));
        return -1;
    }
    snprintf(f->pgdata, sizeof f->pgdata, "%s/data", f->dir);
    struct passwd *pw = geteuid() == 0 ? getpwnam("postgres") : NULL;
    if (pw && chown(f->dir, pw->pw_uid, pw->pw_gid) != 0) {
        fprintf(stderr, "pg_fixture: chown %s: %s\n", f->dir, strerror(errno));
        return -1;
    }
    char *init_argv[] = {initdb,  "-D", f->pgdata, "-U",         PGFX_USER,   "-A",
                         "trust", "-E", "UTF8",    "--locale=C", "--no-sync", "--no-instructions",
                         NULL};
    if (pgfx_run(f, init_argv))
        return -1;
    f->port = pgfx_free_port();
    snprintf(port, sizeof port, "%d", f->port);
    snprintf(sock_opt, sizeof sock_opt, "%s", f->dir);
    char *pg_argv[] = {postgres,    "-D", f->pgdata, "-k", sock_opt,    "-h",
                       "127.0.0.1", "-p", port,      "-c", "fsync=off", NULL};
    f->pid = pgfx_spawn(f, pg_argv);
    if (f->pid < 0) {
        f->pid = 0;
        return -1;
    }
    return pgfx_wait_ready(f);
}

int pg_fixture_exec(pg_fixture *f, const char *db, const char *sql)
{
    char ci[160];
    pgfx_conninfo(f, db, ci, sizeof ci);
    PGconn *c = PQconnectdb(ci);
    int rc = -1;
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "pg_fixture: connect: %s", PQerrorMessage(c));
    } else {
        PGresult *r = PQexec(c, sql);
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
            rc = 0;
        else
            fprintf(stderr, "pg_fixture: %s: %s", sql, PQresultErrorMessage(r));
        PQclear(r);
    }
    PQfinish(c);
    return rc;
}

int pg_fixture_new_db(pg_fixture *f, char *url, size_t cap)
{
    char name[32], sql[64];
    snprintf(name, sizeof name, "dcall_t%d", ++f->db_count);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    if (pg_fixture_exec(f, NULL, sql))
        return -1;
    snprintf(url, cap, "postgresql://" PGFX_USER "@127.0.0.1:%d/%s", f->port, name);
    return 0;
}

/* nftw has no user pointer: the scan's state lives here (tests are single-threaded here). */
static const char *pgfx_needle;
static int pgfx_found;

static int pgfx_scan_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (flag != FTW_F || sb->st_size == 0)
        return 0;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return 0; /* a file that vanished (temp files come and go) */
    char *buf = malloc((size_t)sb->st_size);
    size_t got = buf ? fread(buf, 1, (size_t)sb->st_size, fp) : 0;
    fclose(fp);
    if (buf && memmem(buf, got, pgfx_needle, strlen(pgfx_needle)))
        pgfx_found = 1;
    free(buf);
    return pgfx_found;
}

int pg_fixture_disk_contains(pg_fixture *f, const char *needle)
{
    /* flush dirty pages so the heap files hold what was written, not only the WAL */
    if (pg_fixture_exec(f, NULL, "CHECKPOINT"))
        return -1;
    pgfx_needle = needle;
    pgfx_found = 0;
    if (nftw(f->pgdata, pgfx_scan_one, 32, FTW_PHYS) < 0)
        return -1;
    return pgfx_found;
}

static int pgfx_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void pg_fixture_stop(pg_fixture *f)
{
    if (f->pid > 0) {
        kill(f->pid, SIGINT); /* fast shutdown */
        int st, i;
        for (i = 0; i < 600 && waitpid(f->pid, &st, WNOHANG) == 0; i++)
            pgfx_sleep_ms(50);
        if (i == 600) {
            fprintf(stderr, "pg_fixture: postgres did not stop; killing it\n");
            kill(f->pid, SIGKILL);
            waitpid(f->pid, &st, 0);
        }
        f->pid = 0;
    }
    if (f->dir[0])
        nftw(f->dir, pgfx_rm_one, 32, FTW_DEPTH | FTW_PHYS);
    f->dir[0] = 0;
}
