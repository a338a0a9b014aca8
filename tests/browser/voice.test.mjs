// Chromium (Debian's, headless, through Playwright) calls a `dcall` CLI through dcalld with a plain
// RTCPeerConnection on a minimal page: audio must arrive both ways. The browser's fake microphone
// plays a speech WAV; the CLI plays another. The CLI's recording must correlate with the browser's
// input, and the browser's inbound-rtp stats must show audio received with a non-zero level.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { itest, assert, sleep, rest } from '../integration/lib/index.mjs';
import { readWav, envelope, segmentedAlignment } from '../integration/lib/audio.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dcall-browser-'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

function speak(file, text) {
  execFileSync('espeak-ng', ['-w', file, '-s', '150', text]);
  return file;
}

// Debian's Chromium, headless, as root, no network beyond loopback, fake microphone (a WAV file
// when given), loopback candidates allowed, autoplay so the remote audio element plays.
function chromiumArgs(wav) {
  return ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--disable-quic', '--no-first-run', '--use-fake-ui-for-media-stream',
    '--use-fake-device-for-media-stream', ...(wav ? [`--use-file-for-fake-audio-capture=${wav}`] : []),
    '--allow-loopback-in-peer-connection', '--autoplay-policy=no-user-gesture-required'];
}

function servePage() {
  const html = fs.readFileSync(path.join(here, 'page.html'));
  const srv = http.createServer((req, res) => {
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.end(html);
  });
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve(srv)));
}

itest('Chromium calls a dcall CLI through dcalld: audio both ways', async (h) => {
  const browserSays = speak(path.join(tmp, 'browser.wav'),
    'Hello from the browser. The quick brown fox jumps over the lazy dog. One, two, three, four.');
  const cliSays = speak(path.join(tmp, 'cli.wav'),
    'Good morning, this is the driver speaking. I will be at the gate in five minutes.');
  const cliHears = path.join(tmp, 'cli-heard.wav');

  const srv = await h.startServer({ extraArgs: ['--media-port', '0'] });
  const acct = await h.account(srv);
  const driver = await h.user(srv, acct, 'driver');
  const rider = await h.user(srv, acct, 'rider');
  const cli = h.listen(srv, driver, ['--answer-after', '0.5', '--hangup-after', '12', '--play', cliSays,
    '--record', cliHears, '--exit-after-calls', '1']);
  await cli.waitFor('registered');

  const page = await servePage();
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: chromiumArgs(browserSays) });
  try {
    const tab = await (await browser.newContext()).newPage();
    await tab.goto(`http://127.0.0.1:${page.address().port}/`);
    await tab.evaluate((a) => window.dcallTest.start(a), { wsUrl: srv.wsUrl, token: rider.token });
    const callId = await tab.evaluate((a) => window.dcallTest.call(a), { to: driver.cuid, context: 'Browser test ride' });
    await cli.waitFor('media', (e) => e.call_id === callId, 15000);
    await sleep(7000);
    const stats = await tab.evaluate(() => window.dcallTest.inbound());
    assert.ok(stats, 'an inbound-rtp audio stat exists');
    assert.ok(stats.packetsReceived > 200, `browser received ${stats.packetsReceived} packets`);
    assert.ok(stats.totalAudioEnergy > 0 || stats.audioLevel > 0, `browser audio level ${JSON.stringify(stats)}`);
    await cli.waitFor('ended', (e) => e.call_id === callId, 20000);
    await cli.exit(10000);
  } finally {
    await browser.close();
    page.close();
  }
  // Chromium's fake microphone loops the file from the moment getUserMedia runs, so the recording
  // starts at an unknown phase of the loop: align what was heard against the looped input (three
  // plays), searching one whole play for the phase.
  const said = envelope(readWav(browserSays));
  const heard = envelope(readWav(cliHears));
  const looped = [...said, ...said, ...said];
  const { corr } = segmentedAlignment(heard, looped, { maxLag: said.length });
  assert.ok(heard.length > 500, `the CLI recorded ${heard.length * 10} ms`);
  assert.ok(corr >= 0.8, `the CLI heard the browser: envelope correlation ${corr.toFixed(3)}`);
}, { timeout: 90000 });

itest('a forged DTLS fingerprint in the offer ends the call failed/dtls_fingerprint_mismatch, no media', async (h) => {
  const srv = await h.startServer({ extraArgs: ['--media-port', '0'] });
  const acct = await h.account(srv);
  const driver = await h.user(srv, acct, 'fpdriver');
  const rider = await h.user(srv, acct, 'fprider');
  const cli = h.listen(srv, driver, ['--answer-after', '0.3', '--exit-after-calls', '1']);
  await cli.waitFor('registered');
  const page = await servePage();
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: chromiumArgs() });
  try {
    const tab = await (await browser.newContext()).newPage();
    await tab.goto(`http://127.0.0.1:${page.address().port}/`);
    await tab.evaluate((a) => window.dcallTest.start(a), { wsUrl: srv.wsUrl, token: rider.token });
    const ended = await tab.evaluate((a) => window.dcallTest.call(a),
      { to: driver.cuid, context: 'Forged fingerprint', forgeFingerprint: true });
    assert.equal(ended.reason, 'failed');
    assert.equal(ended.detail, 'dtls_fingerprint_mismatch');
    const e = await cli.waitFor('ended', (x) => x.call_id === ended.call_id, 10000);
    assert.equal(e.reason, 'failed');
    assert.equal(cli.all('media', ended.call_id).length, 0, 'no media event');
    const rec = await rest(srv, 'GET', `/v1/calls/${ended.call_id}`, { auth: [acct.account_id, acct.api_secret] });
    assert.equal(rec.json.detail, 'dtls_fingerprint_mismatch');
  } finally {
    await browser.close();
    page.close();
  }
}, { timeout: 60000 });

itest('a ringing device with a forged DTLS fingerprint gets an error; the call keeps ringing', async (h) => {
  const srv = await h.startServer({ extraArgs: ['--media-port', '0'] });
  const acct = await h.account(srv);
  const driver = await h.user(srv, acct, 'fpdev');
  const rider = await h.user(srv, acct, 'fpcaller');
  const page = await servePage();
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: chromiumArgs() });
  try {
    const tab = await (await browser.newContext()).newPage();
    await tab.goto(`http://127.0.0.1:${page.address().port}/`);
    await tab.evaluate((a) => window.dcallTest.start(a), { wsUrl: srv.wsUrl, token: driver.token });
    const errP = tab.evaluate(() => window.dcallTest.ringForged());
    const caller = h.call(srv, rider, driver.cuid, ['--cancel-after', '4', '--no-media']);
    const err = await errP;
    assert.equal(err.code, 'dtls_fingerprint_mismatch');
    const out = await caller.waitFor('outgoing');
    assert.equal(err.call_id, out.call_id);
    // The call was not ended by the bad device: the caller cancels it after 4 s of ringing.
    const ended = await caller.waitFor('ended', (e) => e.call_id === out.call_id, 15000);
    assert.equal(ended.reason, 'cancelled');
    const rec = await rest(srv, 'GET', `/v1/calls/${out.call_id}`, { auth: [acct.account_id, acct.api_secret] });
    assert.equal(rec.json.reason, 'cancelled');
  } finally {
    await browser.close();
    page.close();
  }
}, { timeout: 60000 });
