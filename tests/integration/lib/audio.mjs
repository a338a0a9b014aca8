// Audio measurements for the voice tests: WAV reading, 10 ms energy envelopes, and the best
// alignment of two envelopes by normalized (Pearson) cross-correlation.
import fs from 'node:fs';
import assert from 'node:assert/strict';

// PCM16 WAV -> {rate, channels, samples: Int16Array (first channel)}.
export function readWav(file) {
  const b = fs.readFileSync(file);
  assert.equal(b.toString('ascii', 0, 4), 'RIFF', `${file}: RIFF header`);
  assert.equal(b.toString('ascii', 8, 12), 'WAVE', `${file}: WAVE`);
  let off = 12;
  let fmt = null;
  let data = null;
  while (off + 8 <= b.length) {
    const id = b.toString('ascii', off, off + 4);
    const size = b.readUInt32LE(off + 4);
    const body = off + 8;
    if (id === 'fmt ') {
      fmt = { format: b.readUInt16LE(body), channels: b.readUInt16LE(body + 2), rate: b.readUInt32LE(body + 4), bits: b.readUInt16LE(body + 14) };
    } else if (id === 'data') {
      data = b.subarray(body, Math.min(b.length, body + size));
      break;
    }
    off = body + size + (size & 1);
  }
  assert.ok(fmt && data, `${file}: fmt and data chunks`);
  assert.equal(fmt.bits, 16, `${file}: 16-bit`);
  const frames = Math.floor(data.length / (2 * fmt.channels));
  const samples = new Int16Array(frames);
  for (let i = 0; i < frames; i++) samples[i] = data.readInt16LE(i * 2 * fmt.channels);
  return { rate: fmt.rate, channels: fmt.channels, samples };
}

// RMS energy of consecutive 10 ms frames.
export function envelope({ rate, samples }) {
  const n = Math.floor(rate / 100);
  const out = [];
  for (let i = 0; i + n <= samples.length; i += n) {
    let s = 0;
    for (let k = 0; k < n; k++) s += samples[i + k] * samples[i + k];
    out.push(Math.sqrt(s / n));
  }
  return out;
}

export function pearson(a, b) {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i];
    mb += b[i];
  }
  ma /= n;
  mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) ** 2;
    sbb += (b[i] - mb) ** 2;
  }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : 0;
}

// Best correlation of the input envelope against the output's, output delayed by 0..maxLag
// frames: {corr, lagMs}. Frames of the input past the recording's end count as silence heard.
export function bestAlignment(inEnv, outEnv, maxLag = 150) {
  let best = { corr: -1, lagMs: 0 };
  for (let lag = 0; lag <= maxLag; lag++) {
    const seg = [];
    for (let i = 0; i < inEnv.length; i++) seg.push(outEnv[i + lag] ?? 0);
    const c = pearson(inEnv, seg);
    if (c > best.corr) best = { corr: c, lagMs: lag * 10 };
  }
  return best;
}


// Utterance-level alignment, as speech-quality tools do it (ITU-T P.862/P.863 align each
// utterance separately): the output may shift its delay during the call (an adaptive jitter
// buffer deepens or shortens itself by whole 20 ms frames), so each segMs piece of the input is
// matched at its own best lag within +-slackMs of the global best, and the correlation is taken
// once over the whole input against the pieces so aligned. {corr, lagMs (global), lags (per piece)}
export function segmentedAlignment(inEnv, outEnv, { segMs = 500, slackMs = 60, maxLag = 150 } = {}) {
  const global = bestAlignment(inEnv, outEnv, maxLag);
  const g = global.lagMs / 10;
  const seg = segMs / 10;
  const slack = slackMs / 10;
  const aligned = [];
  const lags = [];
  for (let s = 0; s < inEnv.length; s += seg) {
    const e = Math.min(inEnv.length, s + seg);
    let best = g;
    let bestC = -2;
    for (let lag = Math.max(0, g - slack); lag <= g + slack; lag++) {
      const y = [];
      for (let i = s; i < e; i++) y.push(outEnv[i + lag] ?? 0);
      const c = pearson(inEnv.slice(s, e), y);
      if (c > bestC) {
        bestC = c;
        best = lag;
      }
    }
    lags.push(best * 10);
    for (let i = s; i < e; i++) aligned.push(outEnv[i + best] ?? 0);
  }
  return { corr: pearson(inEnv, aligned), lagMs: global.lagMs, globalCorr: global.corr, lags };
}
