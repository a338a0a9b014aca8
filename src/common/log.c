#include "common/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "dcall/errors.h"

static _Atomic int dc__log_level = DC__LOG_INFO;

void dc__log_set_level(enum dc__log_level lvl)
{
    atomic_store(&dc__log_level, (int)lvl);
}

int dc__log_parse_level(const char *s, enum dc__log_level *out)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    if (!s || !out)
        return DC_EINVAL;
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum dc__log_level)i;
            return 0;
        }
    }
    return DC_EINVAL;
}

void dc__log(enum dc__log_level lvl, const char *mod, const char *fmt, ...)
{
    static const char *const names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    if ((int)lvl < atomic_load(&dc__log_level) || (int)lvl < 0 || (int)lvl > DC__LOG_ERROR)
        return;
    char ts[32], text[1024];
    dc__iso8601(ts, dc__now_ms());
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    /* Newlines in the text would forge extra records; flatten them. */
    for (char *p = text; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    /* One fprintf per record: stdio locks the stream, so lines from threads never
     * interleave. */
    fprintf(stderr, "%s %s %s: %s\n", ts, names[lvl], mod ? mod : "-", text);
}
