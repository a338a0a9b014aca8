/* Command line of the dcall softphone (issue 3, section 4). Options may come before or after the
 * subcommand; every duration is a decimal number of seconds. */
#ifndef DC_CLI_ARGS_H
#define DC_CLI_ARGS_H

#include <stddef.h>

enum dc__cli_cmd { DC__CLI_NONE = 0, DC__CLI_LISTEN, DC__CLI_CALL, DC__CLI_DEVICES };

struct dc__cli_args {
    const char *server, *token, *account, *api_secret, *cuid, *name;
    enum dc__cli_cmd cmd;
    const char *callee;  /* call */
    const char *context; /* call; NULL: a default is used */
    double answer_after, decline_after, hangup_after, cancel_after; /* seconds; < 0 = unset */
    int no_answer;
    long exit_after_calls; /* 0 = run until killed */
    /* audio: --play/--record WAV files, or --input-device/--output-device PortAudio names;
     * none: silence in, nothing out (media still runs) */
    const char *play, *record, *input_device, *output_device;
    int no_media; /* --no-media: signalling only */
    /* --no-audio-processing: no echo cancellation, noise suppression or AGC on --input-device */
    int no_audio_processing;
    const char *ca_file;   /* --ca-file PEM: CAs for an https/wss server */
    int min_network_score; /* call --min-network-score N (0 = no check enforced) */
    int help;
};

/* Parses argv (argv[0] is the program). 0, or DC_EINVAL with a one-line reason in err. Checks the
 * grammar only; values such as cuids are checked by the caller, which reports them as events. */
int dc__cli_parse(int argc, char **argv, struct dc__cli_args *a, char *err, size_t errlen);
/* Parses a decimal number of seconds (0 .. 86400). 0 or DC_EINVAL. */
int dc__cli_seconds(const char *s, double *out);

#endif
