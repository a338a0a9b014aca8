/* Logging to stderr, one line per record: "2026-11-24T21:42:32.123Z LEVEL module: text".
 * Never pass a secret (api_secret, token, webhook secret, password) to these. */
#ifndef DC_COMMON_LOG_H
#define DC_COMMON_LOG_H

enum dc__log_level { DC__LOG_DEBUG = 0, DC__LOG_INFO, DC__LOG_WARN, DC__LOG_ERROR };

void dc__log_set_level(enum dc__log_level lvl);
/* Parses "debug|info|warn|error"; 0 or DC_EINVAL. */
int dc__log_parse_level(const char *s, enum dc__log_level *out);
void dc__log(enum dc__log_level lvl, const char *mod, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define DC_DEBUG(mod, ...) dc__log(DC__LOG_DEBUG, mod, __VA_ARGS__)
#define DC_INFO(mod, ...) dc__log(DC__LOG_INFO, mod, __VA_ARGS__)
#define DC_WARN(mod, ...) dc__log(DC__LOG_WARN, mod, __VA_ARGS__)
#define DC_ERROR(mod, ...) dc__log(DC__LOG_ERROR, mod, __VA_ARGS__)

#endif
