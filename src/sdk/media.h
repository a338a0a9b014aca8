/* The SDK's media engine (issue 4), on the client's loop thread.
 *
 * media.c: one leg per call to dcalld: SDP offer/answer over signalling, a UDP socket (uv_udp),
 * ICE checks as the controlling agent (USE-CANDIDATE) every 50 ms until one succeeds and then
 * every 2.5 s (consent), DTLS client handshake, SRTP, RTP out / jitter buffer in, RTCP SR/RR about
 * every second, network switch (re-bind after ~1 s of silence, ICE restart after 2 s of failing
 * checks) and the pre-call network check.
 * voice.c: the audio path for one call: capture -> Opus (20 ms, FEC) and jitter buffer -> Opus
 * decode / FEC / PLC -> playout, with mute, hold and output volume; WAV files and PortAudio
 * devices through sdk/audio_dev.h. */
#ifndef DC_SDK_MEDIA_H
#define DC_SDK_MEDIA_H

#include <stddef.h>
#include <stdint.h>

struct dc_client;
struct dc__media;
struct dc__voice;

/* ---- media.c (loop thread) ---- */
int dc__media_new(struct dc_client *c, struct dc__media **out);
/* The call is known (caller: outgoing; callee device: incoming): makes our offer and sends it. */
void dc__media_call_begin(struct dc__media *m, const char *call_id);
/* The server's answer (SDP text). */
void dc__media_on_answer(struct dc__media *m, const char *call_id, const char *sdp);
/* The call is answered by this party / the server announced `media` (audio end to end). */
void dc__media_on_answered(struct dc__media *m, const char *call_id);
void dc__media_on_flowing(struct dc__media *m, const char *call_id);
/* 1 while this call's leg is open here. */
int dc__media_has_leg(const struct dc__media *m, const char *call_id);
/* The server has no media for this call (no relay): the call goes on signalling-only. */
void dc__media_unavailable(struct dc__media *m, const char *call_id);
/* The app says the network changed: re-bind now. */
void dc__media_network_changed(struct dc__media *m);
/* The call is over for this device: close the leg, finish any recording. */
void dc__media_call_end(struct dc__media *m, const char *call_id);
/* Closes every handle; returns 1 once all are closed (call again until then), then free. */
int dc__media_close(struct dc__media *m);
void dc__media_free(struct dc__media *m);

/* ---- voice.c (loop thread) ---- */
struct dc__voice_cfg {
    const char *in_spec;  /* dc_config.audio_in */
    const char *out_spec; /* dc_config.audio_out */
    int no_processing;    /* dc_config.no_audio_processing: no AEC/NS/AGC on a capture device */
};
struct dc__voice_stats {
    uint64_t sent, received, played, fec, plc, late;
    double jitter_ms;
    int target_ms;
    uint64_t apm_frames, apm_cpu_ns; /* captured blocks through sdk/apm.h, and its CPU time */
};
int dc__voice_new(const struct dc__voice_cfg *cfg, struct dc__voice **out);
void dc__voice_free(struct dc__voice *v);
/* A source/sink that could not be opened since the last call (dc_err each, 0 = fine); that
 * direction is silent and the call goes on. */
void dc__voice_take_errors(struct dc__voice *v, int *in_err, int *out_err);
/* Audio flows end to end: the WAV source starts from its beginning, the recording starts. */
void dc__voice_start_media(struct dc__voice *v);
/* One 20 ms step at now_ms (monotonic): encodes the next captured frame into pkt (cap bytes;
 * *len 0 when nothing to send) and plays out one frame from the jitter buffer. */
int dc__voice_tick(struct dc__voice *v, int64_t now_ms, uint8_t *pkt, size_t cap, size_t *len);
/* A received Opus payload. */
void dc__voice_put(struct dc__voice *v, uint16_t seq, uint32_t ts, const uint8_t *data, size_t len,
                   int64_t now_ms);
/* Loss the far end reports (RTCP fraction lost 0..1): adapts bitrate and FEC. */
void dc__voice_adapt(struct dc__voice *v, double loss_fraction);
void dc__voice_controls(struct dc__voice *v, int mute, int hold, double gain);
void dc__voice_get_stats(const struct dc__voice *v, struct dc__voice_stats *out);
/* Writes "in|out|inout\tNAME\n" lines (malloc'd). */
int dc__voice_list_devices(char **out);

#endif
