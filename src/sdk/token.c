/* Token minting (as a business backend would) and the public validation helpers. */
#include <stdlib.h>
#include <string.h>

#include "common/jwt.h"
#include "common/util.h"
#include "common/validate.h"
#include "dcall/dcall.h"

int dc_validate_cuid(const char *cuid)
{
    return dc__valid_cuid(cuid);
}

int dc_validate_name(const char *name)
{
    return dc__valid_name(name);
}

int dc_validate_context(const char *context)
{
    return dc__valid_context(context);
}

int dc_token_mint(const char *account_id, const char *api_secret, const char *cuid,
                  const char *name, int ttl_s, char **out)
{
    int rc;
    if (!out)
        return DC_EINVAL;
    *out = NULL;
    if (!account_id || dc__valid_id(account_id) != 0)
        return DC_EID;
    if (!api_secret || !*api_secret)
        return DC_EUNAUTHORIZED;
    if ((rc = dc__valid_cuid(cuid)) != 0)
        return rc;
    if (name && (rc = dc__valid_name(name)) != 0)
        return rc;
    if (ttl_s < 60 || ttl_s > 86400)
        return DC_ETTL;
    int64_t now = dc__now_ms() / 1000;
    json_t *claims = json_pack("{s:s,s:s,s:I,s:I}", "acc", account_id, "sub", cuid, "iat",
                               (json_int_t)now, "exp", (json_int_t)(now + ttl_s));
    if (!claims)
        return DC_ENOMEM;
    if (name)
        json_object_set_new(claims, "name", json_string(name));
    rc = dc__jwt_sign(claims, NULL, api_secret, strlen(api_secret), out);
    json_decref(claims);
    return rc;
}
