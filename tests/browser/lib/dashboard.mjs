// Helpers for the dashboard's browser tests: Chromium, sign-up through the UI, downloads, CSV,
// PNG checks and screenshot comparison against committed references (pngjs + pixelmatch).
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { PNG } from 'pngjs';
import pixelmatch from 'pixelmatch';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REFS = path.join(here, '..', 'refs');
export const UPDATE_REFS = process.env.DCALL_UPDATE_REFS === '1';

// Debian's Chromium, headless, no network beyond loopback.
export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.DCALL_CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--disable-quic', '--no-first-run', '--font-render-hinting=none', '--disable-lcd-text'],
  });
}

// A context with fixed locale and time zone, so dates and numbers render the same everywhere.
export function newContext(browser, { width = 1280, height = 800 } = {}) {
  return browser.newContext({
    viewport: { width, height },
    deviceScaleFactor: 1,
    locale: 'en-US',
    timezoneId: 'UTC',
    colorScheme: 'light',
    acceptDownloads: true,
    reducedMotion: 'reduce',
  });
}

// dcalld's flags for the dashboard: the embedded build, or DCALL_DASHBOARD_DIR from disk.
export const dashboardArgs = () => (process.env.DCALL_DASHBOARD_DIR ? ['--dashboard-dir', process.env.DCALL_DASHBOARD_DIR] : []);

// Collects page errors, so a test can assert the app threw nothing.
export function watchErrors(page) {
  const errors = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  if (process.env.DCALL_DEBUG_CONSOLE) page.on('console', (m) => console.log(`console.${m.type()}: ${m.text()}`));
  return errors;
}

// Signs up through the form; resolves on the integration page with what it shows.
export async function signUp(page, baseUrl, { email, password, company }) {
  await page.goto(`${baseUrl}/signup`);
  await page.fill('input[name=company]', company);
  await page.fill('input[name=email]', email);
  await page.fill('input[name=password]', password);
  await page.click('form button[type=submit]');
  await page.waitForURL('**/integration', { timeout: 10000 });
  await page.waitForSelector('[data-testid=account-id]');
  const text = async (id) => (await page.textContent(`[data-testid=${id}]`)).trim();
  return { account_id: await text('account-id'), api_key: await text('api-key'), api_secret: await text('api-secret') };
}

export async function logIn(page, baseUrl, { email, password }) {
  await page.goto(`${baseUrl}/login`);
  await page.fill('input[name=email]', email);
  await page.fill('input[name=password]', password);
  await page.click('form button[type=submit]');
}

export async function goTo(page, name) {
  await page.click(`nav a[href="/${name}"]`);
  await page.waitForSelector(`.page-${name}`);
}

// Clicks what starts a download; resolves {name, bytes}.
export async function download(page, selector) {
  const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 15000 }), page.click(selector)]);
  const file = await dl.path();
  return { name: dl.suggestedFilename(), bytes: fs.readFileSync(file) };
}

// RFC 4180 CSV -> array of rows (arrays of strings).
export function parseCsv(text) {
  const rows = [];
  let row = [];
  let cell = '';
  let q = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (q) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (ch === '"') q = false;
      else cell += ch;
    } else if (ch === '"') q = true;
    else if (ch === ',') {
      row.push(cell);
      cell = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
    } else cell += ch;
  }
  if (cell !== '' || row.length) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}

export const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

// Decodes a PNG; {width, height, colours: distinct colours among sampled pixels}.
export function pngInfo(bytes) {
  const png = PNG.sync.read(bytes);
  const seen = new Set();
  for (let i = 0; i < png.data.length; i += 4 * 97) seen.add(png.data.readUInt32BE(i));
  return { width: png.width, height: png.height, colours: seen.size };
}

// A tiny loopback HTTP server: /logo.png is a 64x64 PNG, anything else is 404.
export async function logoServer() {
  const png = new PNG({ width: 64, height: 64 });
  for (let y = 0; y < 64; y++) {
    for (let x = 0; x < 64; x++) {
      const i = (y * 64 + x) * 4;
      const inside = (x - 32) ** 2 + (y - 32) ** 2 < 26 ** 2;
      png.data[i] = inside ? 0xf5 : 0x1e;
      png.data[i + 1] = inside ? 0x9e : 0x29;
      png.data[i + 2] = inside ? 0x0b : 0x3b;
      png.data[i + 3] = 255;
    }
  }
  const bytes = PNG.sync.write(png);
  const srv = http.createServer((req, res) => {
    if (req.url === '/logo.png') {
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': bytes.length });
      res.end(bytes);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
    }
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${srv.address().port}`, close: () => new Promise((r) => srv.close(r)) };
}

// Compares a screenshot with tests/browser/refs/NAME.png (DCALL_UPDATE_REFS=1 rewrites it).
// Returns null when it matches, else a message naming the differing share and where the actual
// and diff images were written.
export function compareWithRef(name, bytes, { maxDiffRatio = 0.002, threshold = 0.1 } = {}) {
  const refFile = path.join(REFS, `${name}.png`);
  if (UPDATE_REFS || !fs.existsSync(refFile)) {
    if (!UPDATE_REFS) return `no reference ${refFile}: run with DCALL_UPDATE_REFS=1 to create it (and look at it)`;
    fs.mkdirSync(REFS, { recursive: true });
    fs.writeFileSync(refFile, bytes);
    return null;
  }
  const ref = PNG.sync.read(fs.readFileSync(refFile));
  const act = PNG.sync.read(bytes);
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'dcall-shot-'));
  const actFile = path.join(outDir, `${name}.actual.png`);
  if (ref.width !== act.width || ref.height !== act.height) {
    fs.writeFileSync(actFile, bytes);
    return `${name}: size ${act.width}x${act.height} differs from the reference's ${ref.width}x${ref.height} (actual: ${actFile})`;
  }
  const diff = new PNG({ width: ref.width, height: ref.height });
  const n = pixelmatch(ref.data, act.data, diff.data, ref.width, ref.height, { threshold });
  const ratio = n / (ref.width * ref.height);
  if (ratio <= maxDiffRatio) {
    fs.rmSync(outDir, { recursive: true, force: true });
    return null;
  }
  fs.writeFileSync(actFile, bytes);
  fs.writeFileSync(path.join(outDir, `${name}.diff.png`), PNG.sync.write(diff));
  return `${name}: ${n} pixels (${(ratio * 100).toFixed(2)}%) differ from the reference, over ${(maxDiffRatio * 100).toFixed(2)}% (actual and diff in ${outDir})`;
}
