// The dashboard in Debian's Chromium against a real dcalld (the assets embedded in it, or
// DCALL_DASHBOARD_DIR) and real `dcall` CLIs: sign up -> integration shows the IDs -> completed,
// declined, missed and cancelled calls -> the stats page shows exactly those counts within 2 s,
// no reload -> CSV, PNG, SVG and PDF downloads -> print media and a PDF of the page -> a branding
// change reaches the preview and a connected `dcall` client -> wrong password, CSRF without the
// token, another account's session: all refused. Then screenshots of every page at 1280x800
// and 390x844 against tests/browser/refs (DCALL_UPDATE_REFS=1 rewrites them).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { itest, assert, rest, listCalls } from '../integration/lib/index.mjs';
import { WebhookReceiver, signatureValid } from '../integration/lib/webhook.mjs';
import {
  launchChromium, newContext, dashboardArgs, watchErrors, signUp, logIn, goTo, download, parseCsv,
  PNG_MAGIC, pngInfo, logoServer, compareWithRef,
} from './lib/dashboard.mjs';

const PASSWORD = 'correct horse battery staple';
// DCALL_ARTIFACTS_DIR keeps the downloads and the printed PDF there, to look at.
const keep = process.env.DCALL_ARTIFACTS_DIR;
const tmp = keep || fs.mkdtempSync(path.join(os.tmpdir(), 'dcall-dash-'));
if (keep) fs.mkdirSync(keep, { recursive: true });
else process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
const save = (name, bytes) => keep && fs.writeFileSync(path.join(tmp, name), bytes);

const total = (page, status) => page.textContent(`[data-testid=total-${status}]`).then((t) => Number(t));

// Waits until the stats page shows `n` calls with `status` (no reload); returns the ms it took
// from `since` (when the call ended, as the CLI saw it).
async function statsShows(page, status, n, since, timeoutMs = 2000) {
  await page.waitForFunction(([s, v]) => document.querySelector(`[data-testid=total-${s}]`)?.textContent === String(v),
    [status, n], { timeout: Math.max(100, timeoutMs - (Date.now() - since)), polling: 25 });
  return Date.now() - since;
}

const EMAIL = 'owner@acme-rides.example';

// Sign-up: the integration page shows the account's IDs and, once, the secret, which works.
async function signUpShowsIds(srv, page) {
  const acct = await signUp(page, srv.url, { email: EMAIL, password: PASSWORD, company: 'Acme Rides' });
  assert.match(acct.account_id, /^acc_[a-z0-9]+$/, 'Account ID shown');
  assert.match(acct.api_key, /^key_[a-z0-9]+$/, 'API key shown');
  assert.match(acct.api_secret, /^sk_[a-z0-9]+$/, 'API secret shown once');
  const settings = await rest(srv, 'GET', '/v1/settings', { auth: [acct.account_id, acct.api_secret] });
  assert.equal(settings.status, 200, 'the shown secret authenticates the backend API');
  assert.equal(settings.json.api_key, acct.api_key, 'the shown API key is the account\'s');
  const snippet = await page.textContent('.code pre');
  assert.ok(snippet.includes(acct.account_id) && snippet.includes(srv.url), 'the quickstart carries this account and server');
  await page.reload();
  await page.waitForSelector('[data-testid=account-id]');
  assert.equal(await page.$('[data-testid=api-secret]'), null, 'the secret is not shown again after a reload');
  return acct;
}

// The stats page, then a completed, a declined, a missed and a cancelled call with the dcall CLI:
// each shows on the page within 2 s of its end, without a reload. Returns the call ids by reason.
async function callsShowLive(h, srv, page, basic) {
  await goTo(page, 'stats');
  await page.click('[data-range="7d"]'); // a week, so a run across midnight still counts every call
  await page.waitForFunction(() => document.querySelector('[data-testid=kpi-total]')?.textContent === '0');
  await page.waitForSelector('.live-dot.on', { timeout: 5000 });
  // The completed call carries voice (silence) long enough for a quality report, so its MOS
  // shows; the others are signalling only.
  const noMedia = ['--no-media'];
  const scenarios = [
    { reason: 'completed', listen: [], call: ['--hangup-after', '6.5'], media: true },
    { reason: 'declined', listen: ['--decline-after', '0.2'], call: [] },
    { reason: 'missed', listen: ['--no-answer'], call: [] },
    { reason: 'cancelled', listen: ['--no-answer'], call: ['--cancel-after', '0.3'] },
  ];
  const latencies = {};
  const ids = {};
  for (const s of scenarios) {
    const callee = await h.user(srv, basic, `callee_${s.reason}`);
    const caller = await h.user(srv, basic, `caller_${s.reason}`);
    const l = h.listen(srv, callee, [...(s.media ? [] : noMedia), ...s.listen]);
    await l.waitFor('registered');
    const c = h.call(srv, caller, callee.cuid, [...(s.media ? [] : noMedia), ...s.call], { context: 'Your driver for ride #4821' });
    const ended = await c.waitFor('ended', () => true, 20000);
    if (s.media) assert.ok(c.all('quality').length > 0, 'the completed call had a quality report');
    assert.equal(ended.reason, s.reason, `the ${s.reason} call ended ${s.reason}`);
    ids[s.reason] = ended.call_id;
    latencies[s.reason] = await statsShows(page, s.reason, 1, ended._rx);
  }
  console.log(`stats page updated after a call ended, ms: ${JSON.stringify(latencies)}`);
  for (const r of ['completed', 'declined', 'missed', 'cancelled']) assert.equal(await total(page, r), 1, `${r}: 1`);
  for (const r of ['busy', 'unreachable', 'network_loss', 'failed']) assert.equal(await total(page, r), 0, `${r}: 0`);
  assert.equal(await page.textContent('[data-testid=kpi-total]'), '4');
  assert.equal(await page.textContent('[data-testid=kpi-answer-rate]'), '25.0%');
  const mosShown = Number(await page.textContent('[data-testid=kpi-mos]'));
  assert.ok(mosShown >= 1 && mosShown <= 5, `MOS shown: ${mosShown}`);
  console.log(`MOS on the stats page: ${mosShown}`);
  if (keep) save('stats-with-calls.png', await page.screenshot({ fullPage: true }));
  return ids;
}

// Downloads: the charts' CSV rows match, PNG, SVG and PDF are valid files; the calls page lists
// the calls, exports them as CSV (format=csv) and filters them.
async function downloadsAndCallLog(srv, page, basic, ids) {
  const csv = await download(page, '[data-chart-card=status] [data-export=csv]');
  assert.match(csv.name, /^dcall-status-\d{4}-\d{2}-\d{2}\.csv$/);
  const rows = parseCsv(csv.bytes.toString('utf8'));
  assert.deepEqual(rows[0], ['status', 'label', 'count']);
  const counts = Object.fromEntries(rows.slice(1).map((r) => [r[0], Number(r[2])]));
  assert.deepEqual(counts, { completed: 1, declined: 1, missed: 1, cancelled: 1, busy: 0, unreachable: 0, network_loss: 0, failed: 0 });
  const vol = parseCsv((await download(page, '[data-chart-card=volume] [data-export=csv]')).bytes.toString('utf8'));
  assert.equal(vol.slice(1).reduce((a, r) => a + Number(r[r.length - 1]), 0), 4, 'the volume CSV counts 4 calls');

  const png = await download(page, '[data-chart-card=status] [data-export=png]');
  assert.ok(png.bytes.subarray(0, 8).equals(PNG_MAGIC), 'PNG signature');
  const info = pngInfo(png.bytes);
  const box = await page.$eval('[data-chart=status]', (e) => ({ w: e.clientWidth, h: e.clientHeight }));
  assert.equal(info.width, box.w * 2, 'PNG at twice the chart\'s width');
  assert.equal(info.height, box.h * 2);
  assert.ok(info.colours > 3, `the PNG has a drawing (${info.colours} colours sampled)`);
  assert.ok(png.bytes.length > 5000, `PNG size ${png.bytes.length}`);

  const svg = (await download(page, '[data-chart-card=volume] [data-export=svg]')).bytes.toString('utf8');
  assert.match(svg, /^<svg[^>]+xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.ok(svg.includes('Over') && svg.includes('Canceled'), 'the SVG carries the legend');

  const pdf = await download(page, '[data-chart-card=status] [data-export=pdf]');
  const pdfText = pdf.bytes.toString('latin1');
  assert.ok(pdfText.startsWith('%PDF-'), 'PDF header');
  assert.ok(pdfText.trimEnd().endsWith('%%EOF'), 'PDF trailer');
  assert.match(pdfText, /\/Subtype \/Image/, 'the PDF embeds the chart image');
  assert.ok(pdf.bytes.length > 10000, `PDF size ${pdf.bytes.length}`);
  for (const [n, f] of [['status.csv', csv], ['status.png', png], ['status.pdf', pdf]]) save(n, f.bytes);
  save('volume.svg', svg);
  console.log(`downloads: PNG ${png.bytes.length} B (${info.width}x${info.height}), SVG ${svg.length} B, PDF ${pdf.bytes.length} B, CSV ${csv.bytes.length} B`);

  // The calls page: the four calls, and its CSV export (format=csv) with the same rows.
  await goTo(page, 'calls');
  await page.waitForFunction(() => document.querySelectorAll('.calls-table tbody tr[data-call-id]').length === 4);
  const callsCsv = parseCsv((await download(page, '[data-testid=calls-csv]')).bytes.toString('utf8'));
  const head = callsCsv[0];
  assert.deepEqual(head.slice(0, 6), ['id', 'created_at', 'caller', 'callee', 'state', 'reason']);
  const byId = Object.fromEntries(callsCsv.slice(1).map((r) => [r[0], r[head.indexOf('reason')]]));
  assert.deepEqual(byId, Object.fromEntries(Object.entries(ids).map(([r, id]) => [id, r])), 'calls CSV rows match the calls made');
  const listed = await listCalls(srv, basic);
  assert.deepEqual(new Set(listed.calls.map((c) => c.id)), new Set(Object.keys(byId)));
  await page.selectOption('select[name=status]', 'missed');
  await page.click('.filters button[type=submit]');
  await page.waitForFunction((id) => {
    const rows = document.querySelectorAll('.calls-table tbody tr[data-call-id]');
    return rows.length === 1 && rows[0].dataset.callId === id;
  }, ids.missed);
}

// Print media: the print stylesheet lays the charts on paper; a PDF of the page.
async function printsCleanly(page) {
  await goTo(page, 'stats');
  await page.waitForFunction(() => document.querySelector('[data-testid=total-completed]')?.textContent === '1');
  await page.emulateMedia({ media: 'print' });
  await page.waitForFunction(() => [...document.querySelectorAll('.chart svg')].every((s) => s.getAttribute('width') === '680'));
  assert.equal(await page.$eval('.sidebar', (e) => getComputedStyle(e).display), 'none', 'no navigation on paper');
  assert.equal(await page.$eval('.chart-tools', (e) => getComputedStyle(e).display), 'none', 'no buttons on paper');
  const printed = await page.pdf({ format: 'A4', printBackground: true });
  save('stats-print.pdf', printed);
  const printedText = printed.toString('latin1');
  assert.ok(printedText.startsWith('%PDF-'));
  const pages = (printedText.match(/\/Type\s*\/Page[^s]/g) || []).length;
  assert.ok(pages >= 1 && pages <= 3, `the stats page prints on ${pages} A4 pages`);
  console.log(`print: ${pages} A4 page(s), ${printed.length} B`);
  // One chart's print button puts that chart alone on paper (window.print itself is stubbed:
  // headless Chromium has no print dialog).
  await page.emulateMedia({ media: 'screen' });
  await page.evaluate(() => { window.print = () => {}; });
  await page.click('[data-chart-card=volume] [data-export=print]');
  await page.emulateMedia({ media: 'print' });
  const shown = await page.$$eval('.chart-card, .kpis', (els) => els.map((e) => [e.dataset.chartCard || 'kpis', getComputedStyle(e).display !== 'none']));
  assert.deepEqual(shown, [['kpis', false], ['status', false], ['volume', true], ['quality', false]]);
  save('volume-print.pdf', await page.pdf({ format: 'A4', printBackground: true }));
  await page.emulateMedia({ media: 'screen' });
  await page.waitForFunction(() => !document.body.classList.contains('print-one'));
}

// Branding: a logo that does not load is refused; the preview follows the editor; Done reaches a
// connected dcall client as a `branding` event.
async function brandingReachesClients(h, srv, page, basic, logos) {
  const device = await h.user(srv, basic, 'brand_device');
  const cli = h.listen(srv, device, ['--no-media']);
  const first = await cli.waitFor('branding');
  assert.equal(first.branding.background_color, '#FFFFFF');
  await goTo(page, 'branding');
  await page.fill('input[name=logo_url]', `${logos.url}/missing.png`);
  await page.waitForFunction(() => /logo_url: the image did not load/.test(document.querySelector('[data-error-for=logo_url]')?.textContent || ''));
  await page.click('[data-testid=branding-done]');
  assert.match(await page.textContent('[data-error-for=logo_url]'), /logo_url/, 'Done refuses a logo that does not load');
  await page.fill('input[name=logo_url]', `${logos.url}/logo.png`);
  await page.waitForSelector('.logo-status.ok');
  await page.waitForSelector(`[data-testid=preview-incoming] img.pv-logo[src="${logos.url}/logo.png"]`);
  await page.click('.tabs [data-tab=style]');
  await page.fill('input[name=background_color]', '#112233');
  await page.fill('input[name=text_color]', '#F5F5F5');
  await page.check('input[name=button_theme][value=white]');
  const pv = await page.$eval('[data-testid=preview-incoming]', (e) => ({ bg: getComputedStyle(e).backgroundColor, fg: getComputedStyle(e).color, white: e.classList.contains('theme-white') }));
  assert.deepEqual(pv, { bg: 'rgb(17, 34, 51)', fg: 'rgb(245, 245, 245)', white: true }, 'the preview shows the new style');
  assert.equal(await page.textContent('[data-testid=preview-context]'), 'Your driver for ride #4821');
  for (const p of ['ios', 'web']) {
    await page.click(`[data-platform=${p}]`);
    await page.waitForSelector(`.device-${p} [data-testid=preview-ongoing]`);
  }
  const t0 = Date.now();
  await page.click('[data-testid=branding-done]');
  const pushed = await cli.waitFor('branding', (e) => e.branding.background_color === '#112233', 5000);
  console.log(`branding event reached the dcall client ${Date.now() - t0} ms after Done`);
  assert.deepEqual(pushed.branding, { logo_url: `${logos.url}/logo.png`, background_color: '#112233', text_color: '#F5F5F5', button_theme: 'white' });
}

// Rotation: the new secret is shown once; the old one stops working. Returns the new secret.
async function rotateSecret(srv, page, acct, basic) {
  await goTo(page, 'integration');
  await page.click('[data-testid=rotate]');
  await page.click('.modal .btn-danger');
  await page.waitForSelector('[data-testid=api-secret]');
  const rotated = (await page.textContent('[data-testid=api-secret]')).trim();
  assert.notEqual(rotated, acct.api_secret);
  assert.equal((await rest(srv, 'GET', '/v1/settings', { auth: basic })).status, 401, 'the old secret is refused');
  assert.equal((await rest(srv, 'GET', '/v1/settings', { auth: [acct.account_id, rotated] })).status, 200, 'the new one works');
  return rotated;
}

// Refusals: CSRF without (or with a wrong) token, another account's session, a wrong password.
async function refusals(srv, browser, page, acct, rotated, ids) {
  // CSRF: the session cookie alone does not change anything.
  const csrf = await page.evaluate(async () => {
    const r1 = await fetch('/v1/web/secret/rotate', { method: 'POST' });
    const r2 = await fetch('/v1/branding', { method: 'PUT', headers: { 'content-type': 'application/json', 'x-csrf-token': 'forged' }, body: '{"background_color":"#000000"}' });
    return [r1.status, (await r1.json()).error, r2.status, (await r2.json()).error];
  });
  assert.equal(csrf[0], 403);
  assert.equal(csrf[1].code, 'csrf_failed');
  assert.equal(csrf[1].field, 'X-CSRF-Token');
  assert.equal(csrf[2], 403, 'a wrong CSRF token is refused too');
  assert.equal((await rest(srv, 'GET', '/v1/settings', { auth: [acct.account_id, rotated] })).status, 200, 'the secret did not rotate');
  assert.equal((await rest(srv, 'GET', '/v1/branding', { auth: [acct.account_id, rotated] })).json.background_color, '#112233');

  // Another account's session sees none of this account's calls.
  const other = await (await newContext(browser)).newPage();
  await signUp(other, srv.url, { email: 'owner@other.example', password: PASSWORD, company: 'Other Co' });
  const peek = await other.evaluate(async ([id, from]) => {
    const one = await fetch(`/v1/calls/${id}`);
    const list = await (await fetch('/v1/calls')).json();
    const csvText = await (await fetch('/v1/calls?format=csv')).text();
    const stats = await (await fetch(`/v1/stats?from=${encodeURIComponent(from)}`)).json();
    return { one: one.status, list: list.calls.length, csv: csvText, totals: stats.totals };
  }, [ids.completed, new Date(Date.now() - 3600e3).toISOString()]);
  assert.equal(peek.one, 404, 'another account\'s call is not found');
  assert.equal(peek.list, 0);
  assert.ok(!Object.values(ids).some((id) => peek.csv.includes(id)), 'nor in its CSV');
  assert.equal(Object.values(peek.totals).reduce((a, b) => a + b, 0), 0, 'nor in its stats');
  await goTo(other, 'stats');
  await other.waitForFunction(() => document.querySelector('[data-testid=kpi-total]')?.textContent === '0');

  // Log out; a wrong password is refused with the error shown in the form.
  await page.click('button.logout');
  await page.waitForURL('**/login');
  assert.equal((await page.evaluate(() => fetch('/v1/web/me').then((r) => r.status))), 401, 'logged out');
  await logIn(page, srv.url, { email: EMAIL, password: 'wrong password 123' });
  await page.waitForFunction(() => /invalid/i.test(document.querySelector('.form-error')?.textContent || ''));
  assert.ok(page.url().endsWith('/login'), 'still on the log-in page');
  await logIn(page, srv.url, { email: EMAIL, password: PASSWORD });
  await page.waitForURL('**/stats');
}

itest('dashboard: sign up, live stats from CLI calls, downloads, print, branding, refusals', async (h) => {
  const srv = await h.startServer({ ringTimeout: 2, extraArgs: dashboardArgs() });
  const logos = await logoServer();
  const browser = await launchChromium();
  try {
    const page = await (await newContext(browser)).newPage();
    const errors = watchErrors(page);
    const acct = await signUpShowsIds(srv, page);
    const basic = [acct.account_id, acct.api_secret];
    const ids = await callsShowLive(h, srv, page, basic);
    await downloadsAndCallLog(srv, page, basic, ids);
    await printsCleanly(page);
    await brandingReachesClients(h, srv, page, basic, logos);
    const rotated = await rotateSecret(srv, page, acct, basic);
    await refusals(srv, browser, page, acct, rotated, ids);
    assert.deepEqual(errors, [], 'no script errors in the page');
  } finally {
    await browser.close();
    await logos.close();
  }
}, { timeout: 150000 });

// Every page at a desktop and a phone size, against the committed references. Values that change
// from run to run (ids, secrets, the server's port in snippets, the live dot) are masked.
itest('dashboard: screenshots of every page at 1280x800 and 390x844 match the references', async (h) => {
  const srv = await h.startServer({ extraArgs: dashboardArgs() });
  const browser = await launchChromium();
  const failures = [];
  try {
    for (const [width, height] of [[1280, 800], [390, 844]]) {
      const ctx = await newContext(browser, { width, height });
      // The browser's clock stands still at a fixed time, so the stats range, its axis labels and
      // "Updated" read the same in every run (timers still run).
      await ctx.clock.setFixedTime(new Date('2026-03-10T15:30:00Z'));
      const page = await ctx.newPage();
      const shot = async (name, mask = []) => {
        await page.evaluate(() => document.fonts.ready);
        await page.waitForTimeout(150);
        const bytes = await page.screenshot({
          fullPage: true, animations: 'disabled', caret: 'hide',
          mask: ['.live', ...mask].map((s) => page.locator(s)), maskColor: '#FF00FF',
          style: '.toast { display: none !important; }',
        });
        const err = compareWithRef(`${name}-${width}x${height}`, bytes);
        if (err) failures.push(err);
      };
      await page.goto(`${srv.url}/signup`);
      await page.waitForSelector('input[name=company]');
      await shot('signup');
      await page.click('a[href="/login"]');
      await page.waitForSelector('.auth-card h1');
      await shot('login');
      await signUp(page, srv.url, { email: `ops${width}@acme-rides.example`, password: PASSWORD, company: 'Acme Rides' });
      await shot('integration', ['[data-testid=account-id]', '[data-testid=api-key]', '[data-testid=server-url]', '[data-testid=api-secret]', '.code .v']);
      await goTo(page, 'stats');
      await page.waitForSelector('.chart svg');
      await shot('stats');
      await goTo(page, 'calls');
      await page.waitForSelector('.calls-table tbody tr');
      await shot('calls');
      await goTo(page, 'branding');
      await page.waitForSelector('[data-testid=preview-incoming]');
      await shot('branding');
      await goTo(page, 'settings');
      await page.waitForSelector('.page-settings tbody tr');
      await shot('settings');
      await ctx.close();
    }
  } finally {
    await browser.close();
  }
  assert.deepEqual(failures, [], failures.join('\n'));
}, { timeout: 120000 });

// Settings (ring timeout, webhook with its secret shown once, send test, delivery log), the
// integration page's allowed origins and development mode, and the call log's paging.
itest('dashboard: settings, webhooks test delivery, allowed origins, dev mode, call log paging', async (h) => {
  const srv = await h.startServer({ extraArgs: dashboardArgs() });
  const hooks = await WebhookReceiver.start();
  const browser = await launchChromium();
  try {
    const page = await (await newContext(browser)).newPage();
    const errors = watchErrors(page);
    const acct = await signUp(page, srv.url, { email: 'ops@settings.example', password: PASSWORD, company: 'Settings Co' });
    const basic = [acct.account_id, acct.api_secret];
    const settings = async () => (await rest(srv, 'GET', '/v1/settings', { auth: basic })).json;

    // Allowed origins: a path is refused in the form, naming the field; an origin is saved.
    await page.fill('input[name=allowed_origins]', 'https://app.example.com/calls');
    await page.click('.inline-add button[type=submit]');
    assert.match(await page.textContent('[data-error-for=allowed_origins]'), /^allowed_origins: /);
    await page.fill('input[name=allowed_origins]', 'https://app.example.com');
    await page.click('.inline-add button[type=submit]');
    await page.click('text=Save origins');
    await waitFor(async () => (await settings()).allowed_origins?.[0] === 'https://app.example.com', 'allowed_origins saved');
    // Development mode on, then the hello snippet carries the API key.
    await page.click('.switch');
    await waitFor(async () => (await settings()).dev_key_auth === true, 'dev_key_auth on');
    assert.ok((await (await page.waitForSelector('[data-testid=dev-snippet] .code')).textContent()).includes(acct.api_key));

    // Ring timeout: out of range is refused inline; 20 is saved.
    await goTo(page, 'settings');
    await page.fill('input[name=ring_timeout_s]', '5');
    await page.click('form:has(input[name=ring_timeout_s]) button[type=submit]');
    assert.match(await page.textContent('[data-error-for=ring_timeout_s]'), /^ring_timeout_s: .*10-120/);
    await page.fill('input[name=ring_timeout_s]', '20');
    await page.click('form:has(input[name=ring_timeout_s]) button[type=submit]');
    await waitFor(async () => (await settings()).ring_timeout_s === 20, 'ring_timeout_s saved');

    // Webhook: "send test" without a URL names the field; with one, the secret shows once and
    // the test event arrives signed with it and shows in the delivery log.
    await page.click('[data-testid=webhook-test]');
    await page.waitForFunction(() => /webhook/.test(document.querySelector('[data-error-for=webhook_url]')?.textContent || ''));
    await page.fill('input[name=webhook_url]', hooks.url);
    await page.check('input[name=webhook_events][value="call.ended"]');
    await page.click('form:has(input[name=webhook_url]) button[type=submit]');
    const secret = (await (await page.waitForSelector('.secret-once .secret')).textContent()).trim();
    assert.match(secret, /^whsec_/);
    assert.deepEqual((await settings()).webhook_events, ['call.ended']);
    await page.click('[data-testid=webhook-test]');
    const req = (await hooks.waitFor((rs) => rs.find((r) => r.json?.type === 'webhook.test'), 'the webhook.test delivery', 10000));
    assert.ok(signatureValid(secret, req), 'signed with the secret the page showed');
    await page.waitForFunction((id) => [...document.querySelectorAll('.page-settings tbody tr')].some((tr) => tr.textContent.includes('webhook.test') && tr.textContent.includes('done')),
      req.json.id, { timeout: 10000, polling: 250 }).catch(async () => {
      await page.click('text=Refresh');
      await page.waitForFunction(() => [...document.querySelectorAll('.page-settings tbody tr')].some((tr) => /webhook\.test.*done/.test(tr.textContent)), null, { timeout: 5000 });
    });

    // The call log pages by next_cursor: 27 calls (to a user who is offline: unreachable) are
    // 25 on the first page and 2 on the next.
    const placed = [];
    for (let u = 0; u < 3; u++) {
      const caller = await h.user(srv, basic, `pager${u}`);
      const ws = await h.ws(srv, caller.token);
      for (let i = 0; i < 9; i++) {
        const out = await ws.request({ type: 'place', client_call_id: `p${u}-${i}`, to: 'nobody_home', context: 'Paging test' }, 'outgoing');
        await ws.next('ended', (m) => m.call_id === out.call_id);
        placed.push(out.call_id);
      }
      ws.close();
    }
    await goTo(page, 'calls');
    const shown = () => page.$$eval('.calls-table tbody tr[data-call-id]', (rs) => rs.map((r) => r.dataset.callId));
    await page.waitForFunction(() => document.querySelectorAll('.calls-table tbody tr[data-call-id]').length === 25);
    const first = await shown();
    await page.click('text=Older →');
    await page.waitForFunction(() => document.querySelectorAll('.calls-table tbody tr[data-call-id]').length === 2);
    const second = await shown();
    assert.deepEqual(new Set([...first, ...second]), new Set(placed), 'the two pages hold every call once');
    assert.ok(await page.isDisabled('text=Older →'), 'no page after the last');
    await page.click('text=← Newer');
    await page.waitForFunction(() => document.querySelectorAll('.calls-table tbody tr[data-call-id]').length === 25);
    assert.deepEqual(await shown(), first);
    await page.fill('input[name=cuid]', 'x');
    await page.click('.filters button[type=submit]');
    assert.match(await page.textContent('[data-error-for=cuid]'), /^cuid: invalid_cuid/);
    assert.deepEqual(errors, [], 'no script errors in the page');
  } finally {
    await browser.close();
    await hooks.close();
  }
}, { timeout: 120000 });

async function waitFor(fn, what, timeoutMs = 5000) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}
