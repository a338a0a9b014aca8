/* dcall argument parsing: a table of options, each taking a value or not, in any position. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "dcall/errors.h"

int dc__cli_seconds(const char *s, double *out)
{
    char *end = NULL;
    if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
        return DC_EINVAL;
    double v = strtod(s, &end);
    if (!end || *end || !isfinite(v) || v < 0 || v > 86400)
        return DC_EINVAL;
    *out = v;
    return 0;
}

enum opt_id {
    O_SERVER,
    O_TOKEN,
    O_ACCOUNT,
    O_SECRET,
    O_CUID,
    O_NAME,
    O_ANSWER,
    O_DECLINE,
    O_NOANSWER,
    O_HANGUP,
    O_EXITAFTER,
    O_CONTEXT,
    O_CANCEL,
    O_PLAY,
    O_RECORD,
    O_INDEV,
    O_OUTDEV,
    O_NOMEDIA,
    O_NOAPM,
    O_CAFILE,
    O_MINSCORE,
    O_HELP
};

static const struct {
    const char *name;
    enum opt_id id;
    int has_value;
} opts[] = {
    {"--server", O_SERVER, 1},
    {"--token", O_TOKEN, 1},
    {"--account", O_ACCOUNT, 1},
    {"--api-secret", O_SECRET, 1},
    {"--cuid", O_CUID, 1},
    {"--name", O_NAME, 1},
    {"--answer-after", O_ANSWER, 1},
    {"--decline-after", O_DECLINE, 1},
    {"--no-answer", O_NOANSWER, 0},
    {"--hangup-after", O_HANGUP, 1},
    {"--exit-after-calls", O_EXITAFTER, 1},
    {"--context", O_CONTEXT, 1},
    {"--cancel-after", O_CANCEL, 1},
    {"--play", O_PLAY, 1},
    {"--record", O_RECORD, 1},
    {"--input-device", O_INDEV, 1},
    {"--output-device", O_OUTDEV, 1},
    {"--no-media", O_NOMEDIA, 0},
    {"--no-audio-processing", O_NOAPM, 0},
    {"--ca-file", O_CAFILE, 1},
    {"--min-network-score", O_MINSCORE, 1},
    {"--help", O_HELP, 0},
    {"-h", O_HELP, 0},
};

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        snprintf(err, errlen, __VA_ARGS__);                                                        \
        return DC_EINVAL;                                                                          \
    } while (0)

static int set_seconds(double *dst, const char *name, const char *v, char *err, size_t errlen)
{
    if (dc__cli_seconds(v, dst) != 0)
        FAIL("%s: must be a number of seconds from 0 to 86400, got '%s'", name, v);
    return 0;
}

static int apply(struct dc__cli_args *a, enum opt_id id, const char *name, const char *v, char *err,
                 size_t errlen)
{
    char *end = NULL;
    switch (id) {
    case O_SERVER:
        a->server = v;
        break;
    case O_TOKEN:
        a->token = v;
        break;
    case O_ACCOUNT:
        a->account = v;
        break;
    case O_SECRET:
        a->api_secret = v;
        break;
    case O_CUID:
        a->cuid = v;
        break;
    case O_NAME:
        a->name = v;
        break;
    case O_CONTEXT:
        a->context = v;
        break;
    case O_NOANSWER:
        a->no_answer = 1;
        break;
    case O_HELP:
        a->help = 1;
        break;
    case O_PLAY:
        a->play = v;
        break;
    case O_RECORD:
        a->record = v;
        break;
    case O_INDEV:
        a->input_device = v;
        break;
    case O_OUTDEV:
        a->output_device = v;
        break;
    case O_NOMEDIA:
        a->no_media = 1;
        break;
    case O_NOAPM:
        a->no_audio_processing = 1;
        break;
    case O_CAFILE:
        a->ca_file = v;
        break;
    case O_MINSCORE: {
        long n = strtol(v, &end, 10);
        if (!*v || *end || n < 0 || n > 100)
            FAIL("%s: must be a whole number from 0 to 100, got '%s'", name, v);
        a->min_network_score = (int)n;
        break;
    }
    case O_ANSWER:
        return set_seconds(&a->answer_after, name, v, err, errlen);
    case O_DECLINE:
        return set_seconds(&a->decline_after, name, v, err, errlen);
    case O_HANGUP:
        return set_seconds(&a->hangup_after, name, v, err, errlen);
    case O_CANCEL:
        return set_seconds(&a->cancel_after, name, v, err, errlen);
    case O_EXITAFTER:
        a->exit_after_calls = strtol(v, &end, 10);
        if (!*v || *end || a->exit_after_calls < 1 || a->exit_after_calls > 1000000)
            FAIL("%s: must be a whole number of calls from 1, got '%s'", name, v);
        break;
    }
    return 0;
}

static int take_option(int argc, char **argv, int *i, struct dc__cli_args *a, char *err,
                       size_t errlen)
{
    const char *arg = argv[*i];
    const char *eq = strchr(arg, '=');
    size_t nlen = eq ? (size_t)(eq - arg) : strlen(arg);
    for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++) {
        if (strlen(opts[k].name) != nlen || strncmp(opts[k].name, arg, nlen) != 0)
            continue;
        const char *v = NULL;
        if (opts[k].has_value) {
            if (eq)
                v = eq + 1;
            else if (*i + 1 < argc)
                v = argv[++*i];
            else
                FAIL("%s needs a value", opts[k].name);
        } else if (eq) {
            FAIL("%s takes no value", opts[k].name);
        }
        return apply(a, opts[k].id, opts[k].name, v, err, errlen);
    }
    FAIL("unknown option '%.*s'", (int)nlen, arg);
}

static int take_word(const char *w, struct dc__cli_args *a, char *err, size_t errlen)
{
    if (a->cmd == DC__CLI_NONE) {
        if (strcmp(w, "listen") == 0)
            a->cmd = DC__CLI_LISTEN;
        else if (strcmp(w, "call") == 0)
            a->cmd = DC__CLI_CALL;
        else if (strcmp(w, "devices") == 0)
            a->cmd = DC__CLI_DEVICES;
        else
            FAIL("unknown command '%s' (expected listen, call or devices)", w);
        return 0;
    }
    if (a->cmd == DC__CLI_CALL && !a->callee) {
        a->callee = w;
        return 0;
    }
    FAIL("unexpected argument '%s'", w);
}

static int check(const struct dc__cli_args *a, char *err, size_t errlen)
{
    if (a->cmd == DC__CLI_NONE)
        FAIL("missing command: listen, call or devices");
    if (a->cmd == DC__CLI_DEVICES)
        return 0; /* needs no server */
    if (a->play && a->input_device)
        FAIL("choose one of --play and --input-device");
    if (a->record && a->output_device)
        FAIL("choose one of --record and --output-device");
    if (a->no_media && (a->play || a->record || a->input_device || a->output_device))
        FAIL("--no-media excludes --play, --record and the devices");
    if (!a->server)
        FAIL("--server is required");
    if (a->token && (a->account || a->api_secret))
        FAIL("use either --token or --account with --api-secret, not both");
    if (!a->token && !(a->account && a->api_secret))
        FAIL("--token, or --account with --api-secret, is required");
    if (!a->cuid)
        FAIL("--cuid is required");
    int answer_modes = (a->answer_after >= 0) + (a->decline_after >= 0) + a->no_answer;
    if (a->cmd == DC__CLI_CALL) {
        if (!a->callee)
            FAIL("call needs the callee's CUID");
        if (answer_modes || a->exit_after_calls)
            FAIL("--answer-after, --decline-after, --no-answer and --exit-after-calls are for "
                 "listen");
    } else {
        if (answer_modes > 1)
            FAIL("choose one of --answer-after, --decline-after and --no-answer");
        if (a->context || a->cancel_after >= 0 || a->min_network_score)
            FAIL("--context, --cancel-after and --min-network-score are for call");
    }
    return 0;
}

int dc__cli_parse(int argc, char **argv, struct dc__cli_args *a, char *err, size_t errlen)
{
    int rc;
    memset(a, 0, sizeof *a);
    a->answer_after = a->decline_after = a->hangup_after = a->cancel_after = -1;
    if (errlen)
        err[0] = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (arg[0] == '-' && arg[1] != 0)
            rc = take_option(argc, argv, &i, a, err, errlen);
        else
            rc = take_word(arg, a, err, errlen);
        if (rc)
            return rc;
        if (a->help)
            return 0;
    }
    return check(a, err, errlen);
}
