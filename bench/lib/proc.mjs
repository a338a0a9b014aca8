// Processes the bench starts (dcalld, the C echo baseline), pinned with taskset when there is one,
// and what it reads about them (/proc RSS, CPU time). Every child is tracked and killed by pid on
// exit; nothing else is touched.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const children = new Set();

export function log(...a) {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${a.join(' ')}\n`);
}

export function killChildren() {
  for (const p of children) {
    try {
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
  children.clear();
}

export function haveCmd(cmd) {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function withTimeout(p, ms, what) {
  let t;
  const to = new Promise((_, rej) => {
    t = setTimeout(() => rej(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, to]).finally(() => clearTimeout(t));
}

// VmRSS of a live process, in KiB.
export function rssKb(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : null;
}

// user+system CPU seconds a process has used so far (from /proc/PID/stat).
export function cpuSeconds(pid) {
  const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

// Starts `argv` (pinned to `cpu` when taskset exists; taskset execs, so the pid is the server's)
// and resolves once a stdout line matches `re`: {proc, pid, match}. stderr goes to logFile so
// reading the server's log never costs the load generator anything.
export async function startServer(argv, { cpu, re, logFile, timeoutMs = 15000 }) {
  const pin = cpu != null && haveCmd('taskset') ? ['taskset', '-c', String(cpu)] : [];
  const cmd = [...pin, ...argv];
  const errFd = fs.openSync(logFile, 'a');
  const proc = spawn(cmd[0], cmd.slice(1), { stdio: ['ignore', 'pipe', errFd] });
  fs.closeSync(errFd);
  children.add(proc);
  proc.once('exit', () => children.delete(proc));
  let out = '';
  const ready = new Promise((resolve, reject) => {
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (d) => {
      out += d;
      const m = re.exec(out);
      if (m) resolve(m);
    });
    proc.once('exit', (code, sig) =>
      reject(new Error(`${path.basename(argv[0])} exited (${code ?? sig}) before ready; log ${logFile}`)),
    );
    proc.once('error', reject);
  });
  const match = await withTimeout(ready, timeoutMs, `${path.basename(argv[0])} to listen`);
  proc.stdout.resume();
  return { proc, pid: proc.pid, match, pinned: pin.length > 0 };
}

export async function stopServer(srv, timeoutMs = 10000) {
  const p = srv.proc;
  if (p.exitCode !== null || p.signalCode !== null) return;
  const gone = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  try {
    await withTimeout(gone, timeoutMs, 'server to exit');
  } catch {
    p.kill('SIGKILL');
    await gone;
  }
}

// Builds the C echo baseline into outDir; returns its path.
export function buildEcho(srcDir, outDir) {
  const out = path.join(outDir, 'echo');
  execFileSync('cc', ['-O2', '-o', out, path.join(srcDir, 'echo.c'), '-lcrypto'], { stdio: 'inherit' });
  return out;
}

// One CPU's jiffies from /proc/stat: {busy, iowait, idle} (busy = user+nice+system+irq+softirq).
export function cpuTimes(cpu) {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith(`cpu${cpu} `));
  if (!line) return null;
  const f = line.split(/\s+/).slice(1).map(Number);
  return { busy: f[0] + f[1] + f[2] + f[5] + f[6], iowait: f[4], idle: f[3], steal: f[7] || 0 };
}

// Shares of a CPU's time between two cpuTimes() readings.
export function cpuShares(a, b) {
  if (!a || !b) return null;
  const d = Object.fromEntries(Object.keys(a).map((k) => [k, b[k] - a[k]]));
  const total = d.busy + d.iowait + d.idle + d.steal || 1;
  return Object.fromEntries(Object.entries(d).map(([k, v]) => [k, Math.round((v / total) * 100) / 100]));
}

// Soft RLIMIT_NOFILE of this process.
export function nofileLimit() {
  const m = /Max open files\s+(\d+|unlimited)/.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
  return !m || m[1] === 'unlimited' ? Infinity : Number(m[1]);
}

export function machine() {
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
  const model = /model name\s*:\s*(.+)/.exec(cpuinfo);
  const mem = /MemTotal:\s+(\d+)/.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
  let kernel = '';
  try {
    kernel = fs.readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    /* not Linux */
  }
  return {
    cpus: Number(execFileSync('nproc', ['--all']).toString().trim()),
    cpu_model: model ? model[1].trim() : null,
    mem_mb: mem ? Math.round(Number(mem[1]) / 1024) : null,
    kernel,
    node: process.version,
  };
}
