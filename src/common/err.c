#include <string.h>

#include "dcall/errors.h"

struct dc__err_entry {
    int value;
    const char *code;
    const char *rule;
    const char *full;
};

static const struct dc__err_entry dc__errs[] = {
#define DC__ERR_ROW(name, val, code, text) {val, code, text, code ": " text},
    DC_ERRORS(DC__ERR_ROW)
#undef DC__ERR_ROW
};

static const struct dc__err_entry *dc__err_find(int err)
{
    for (size_t i = 0; i < sizeof dc__errs / sizeof dc__errs[0]; i++)
        if (dc__errs[i].value == err)
            return &dc__errs[i];
    return NULL;
}

const char *dc_strerror(int err)
{
    const struct dc__err_entry *e = dc__err_find(err);
    return e ? e->full : "unknown_error: unknown error";
}

const char *dc_err_code(int err)
{
    const struct dc__err_entry *e = dc__err_find(err);
    return e ? e->code : "unknown_error";
}

const char *dc_err_rule(int err)
{
    const struct dc__err_entry *e = dc__err_find(err);
    return e ? e->rule : "unknown error";
}

int dc_err_from_code(const char *code)
{
    if (!code)
        return DC_EPROTO;
    for (size_t i = 0; i < sizeof dc__errs / sizeof dc__errs[0]; i++)
        if (strcmp(dc__errs[i].code, code) == 0)
            return dc__errs[i].value;
    return DC_EPROTO;
}
