/* Identifier rules shared by server and SDK (DESIGN.md "Auth and tenancy"). Each returns 0 or the
 * specific dc_err (DC_ECUID, DC_ENAME, ...). Lengths count UTF-8 code points for names and
 * contexts, bytes for cuids (ASCII only). NULL is invalid. */
#ifndef DC_COMMON_VALIDATE_H
#define DC_COMMON_VALIDATE_H

#include <stddef.h>

/* 5-50 chars, ^(?=.*[a-zA-Z])[A-Za-z0-9]+(_[a-zA-Z0-9]+)*$  -> DC_ECUID */
int dc__valid_cuid(const char *s);
/* 3-50 code points of valid UTF-8, no control characters -> DC_ENAME */
int dc__valid_name(const char *s);
/* 1-64 code points of valid UTF-8, no control characters -> DC_ECONTEXT */
int dc__valid_context(const char *s);
/* http:// or https:// URL, 1-2048 bytes, printable ASCII without spaces -> DC_EURL */
int dc__valid_url(const char *s);
/* 1-64 chars of [A-Za-z0-9_-] (client_call_id, call ids, account ids) -> DC_EID */
int dc__valid_id(const char *s);
/* "#RRGGBB" -> DC_ECOLOR */
int dc__valid_color(const char *s);
/* Counts UTF-8 code points; -1 when not valid UTF-8 or it contains C0/C1 control characters. */
long dc__utf8_len(const char *s);

#endif
