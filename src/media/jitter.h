/* Adaptive jitter buffer for 20 ms Opus frames over RTP (48 kHz clock, 960 ticks per frame).
 *
 * Written here rather than taken from speexdsp's JitterBuffer, because that one (a) keys packets
 * by timestamp only and has no way to look at the next packet without consuming it, which Opus
 * FEC needs (the lost frame is rebuilt from the packet after it); (b) adapts its delay by a
 * late-cost heuristic with no floor/ceiling in milliseconds and no way to read the target back;
 * (c) wants its own tick/remaining-span protocol around every get. This one is ~300 lines.
 *
 * Model: the caller puts packets as they arrive (with the arrival time) and calls dc__jb_get()
 * once per 20 ms playout tick (with the tick's time on the same clock, e.g. dc__mono_ms()). Each
 * get says what to play for that tick. Playout position is the RTP timestamp; sequence numbers are
 * reported back but ordering, loss and duplicates are decided on timestamps (so a sender that
 * skips timestamps during a pause conceals rather than compresses the pause).
 *
 * Delay: every packet gives a relative delay sample d = arrival - media time. Over the last 128
 * packets (~2.5 s) target = (95th percentile of d - minimum d) + 10 ms, clamped to 20..200 ms.
 * Before any measurement the target is 40 ms. The target rises at once and falls by at most 1 ms
 * per packet (50 ms/s), so a jitter spike is absorbed and a calm network gets its latency back
 * within a few seconds. The playout point follows the target one frame at a time: it inserts a
 * concealed frame (DC_JB_INSERT) when the next frame is not due yet, and drops a frame
 * (stats.skipped; no sign of it in the get results but a jump in ts) when playout runs 30 ms or
 * more behind what the target asks, so the delay stays under target + 30 ms. Skips wait until
 * ~1 s of measurements exist, so the first words are not cut while the delay is discovered.
 * Ten late packets in a row, or one too far ahead to hold, restart the stream (DC_JB_RESYNC):
 * the sender restarted or its clock jumped.
 *
 * Threads: not thread-safe. If packets arrive on a network thread and playout runs on an audio
 * thread, serialise put/get with a mutex (both are O(window), a few µs). The payload returned by
 * dc__jb_get() is a copy inside the buffer, valid until the next dc__jb_get(), so it can be
 * decoded after the mutex is released, as long as only one thread calls get. */
#ifndef DC_MEDIA_JITTER_H
#define DC_MEDIA_JITTER_H

#include <stddef.h>
#include <stdint.h>

#define DC_JB_FRAME_TS 960
#define DC_JB_FRAME_MS 20
#define DC_JB_MIN_DELAY_MS 20
#define DC_JB_MAX_DELAY_MS 200
#define DC_JB_SLOTS 64 /* frames held at most: 1.28 s ahead of the playout point */
#define DC_JB_MAX_PAYLOAD 1500

typedef struct dc__jb dc__jb;

typedef enum dc__jb_kind {
    DC_JB_EMPTY = 0, /* no stream yet, or still filling to the target delay: play silence */
    DC_JB_FRAME,     /* data is this tick's packet: dc__opus_decode() it */
    DC_JB_FEC,    /* this tick's packet is lost; data is the NEXT packet: dc__opus_decode_fec() */
    DC_JB_LOST,   /* lost, nothing to rebuild it from: dc__opus_decode_plc() */
    DC_JB_INSERT, /* the buffer is deepening its delay: conceal one frame (PLC); not a loss */
} dc__jb_kind;

typedef struct dc__jb_frame {
    dc__jb_kind kind;
    const uint8_t *data; /* FRAME, FEC: owned by the buffer, valid until the next dc__jb_get() */
    size_t len;
    uint32_t ts;  /* RTP timestamp of the frame this tick plays (FRAME, FEC, LOST) */
    uint16_t seq; /* FRAME: its sequence number; FEC: the next packet's; else 0 */
} dc__jb_frame;

typedef enum dc__jb_put_result {
    DC_JB_ACCEPTED = 0,
    DC_JB_DUPLICATE, /* already held: dropped */
    DC_JB_LATE,      /* its playout tick has passed (also a copy of a played one): dropped */
    DC_JB_RESYNC,    /* stream jumped (sender restart, long pause): buffer restarted with it */
} dc__jb_put_result;

typedef struct dc__jb_stats {
    uint64_t received;  /* packets accepted */
    uint64_t duplicate; /* dropped as duplicates */
    uint64_t late;      /* dropped as late */
    uint64_t played;    /* ticks that played a received frame */
    uint64_t fec;       /* lost frames given to FEC (next packet present) */
    uint64_t lost;      /* lost frames with nothing to rebuild from (PLC) */
    uint64_t inserted;  /* concealed frames inserted to deepen the delay */
    uint64_t skipped;   /* frames dropped to shorten the delay */
    uint64_t resyncs;
    int target_ms;    /* current target delay, 20..200 */
    double jitter_ms; /* RFC 3550 interarrival jitter estimate, in ms */
} dc__jb_stats;

int dc__jb_new(dc__jb **out);
void dc__jb_free(dc__jb *jb);
/* Forgets the stream (e.g. on a new remote SSRC); the next packet starts a new one. */
void dc__jb_reset(dc__jb *jb);
/* Copies the packet in. now_ms: arrival time (monotonic ms). result may be NULL. Returns
 * DC_EINVAL for len 0 or over DC_JB_MAX_PAYLOAD; dropped packets are not errors. */
int dc__jb_put(dc__jb *jb, uint16_t seq, uint32_t ts, const uint8_t *data, size_t len,
               int64_t now_ms, dc__jb_put_result *result);
/* One 20 ms playout tick at now_ms. */
int dc__jb_get(dc__jb *jb, int64_t now_ms, dc__jb_frame *out);
void dc__jb_get_stats(const dc__jb *jb, dc__jb_stats *out);

#endif
