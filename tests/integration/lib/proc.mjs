// Process bookkeeping shared by the harness: every child we spawn is registered here so that a
// test that fails (or a runner that exits early) never leaves dcalld or dcall processes behind.
import path from 'node:path';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

export function binDir() {
  const dir = process.env.DCALL_BIN_DIR || path.resolve(here, '../../../build/bin');
  for (const b of ['dcalld', 'dcall']) {
    if (!fs.existsSync(path.join(dir, b))) {
      throw new Error(`${b} not found in ${dir} (set DCALL_BIN_DIR to the build's bin directory)`);
    }
  }
  return dir;
}

export const children = new Set();

export function track(proc) {
  children.add(proc);
  proc.once('exit', () => children.delete(proc));
  return proc;
}

// Temp dirs made by the harness; whatever a test did not remove is removed at exit.
export const tempDirs = new Set();

function killAll() {
  for (const p of children) {
    try {
      p.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
  if (process.env.DCALL_KEEP_TMP) return;
  for (const d of tempDirs) {
    try {
      fs.rmSync(d, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  }
}
process.once('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    killAll();
    process.exit(130);
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Resolves with the value of fn() once it is truthy; rejects with `what` after timeoutMs.
export async function waitUntil(fn, { timeoutMs = 5000, intervalMs = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      const extra = last instanceof Error ? `: ${last.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${extra}`);
    }
    await sleep(intervalMs);
  }
}

// Races a promise against a timer so that no await in a test can hang the suite.
export function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, rej) => {
      timer = setTimeout(() => rej(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]);
}

let uniqCounter = 0;
// A cuid that no other test uses: letters first, then a counter and a random tail.
export function uniqCuid(prefix = 'user') {
  uniqCounter += 1;
  const rnd = Math.random().toString(36).slice(2, 7).replace(/[^a-z0-9]/g, 'x');
  return `${prefix}_${uniqCounter}${rnd}`;
}

// Last `n` characters of a text, for failure diagnostics.
export function tail(text, n = 4000) {
  return text.length > n ? '…' + text.slice(text.length - n) : text;
}

// A sanitizer report (ASan, UBSan, LeakSanitizer) in a process's stderr, or null.
export function sanitizerReport(text) {
  const m = /(ERROR: (Address|Leak)Sanitizer|runtime error:)[\s\S]{0,3000}/.exec(text || '');
  return m ? m[0] : null;
}
