// Server CPU and context switches per login, one virtual user at a time, for one build:
// `BENCH_IDP_BIN=target/release/idp node bench/sequential.mjs [LABEL]` (needs `perf`).
// Writes bench/results/sequential-<timestamp>.json (BENCH_OUT to change) and prints it.
// Without concurrency, context switches per login barely move from run to run and CPU per
// login a few percent, so a small change to a login's cost shows; context switches count
// the hops between threads (a statement on SQLite is one to its connection's thread and back),
// and fsync calls count durable commits (SQLite in WAL mode with synchronous=FULL syncs the
// log once per committed write transaction; the syscall tracepoint needs root).
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setupMotcua, driverConfig, driver, passwordHash, PASSWORD, cleanup, OUT, SECONDS } from './bench.mjs';

const label = process.argv[2] || '';
const ROOT = path.dirname(path.dirname(new URL(import.meta.url).pathname));
const res = {
  timestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), label,
  binary: process.env.BENCH_IDP_BIN || 'target/release/idp',
  checkout: execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']).toString().trim(),
  database: process.env.BENCH_DATABASE_URL ? 'postgresql + redis' : 'sqlite',
  seconds_per_mode: SECONDS, load_average_before: os.loadavg().map((x) => +x.toFixed(2)), results: {},
};
try {
  const sys = await setupMotcua(await passwordHash(PASSWORD));
  await driver(driverConfig(sys, { mode: 'collect', count: 4, scope: 'openid', prompt: 'consent' })); // consents given
  for (const [id, cfg] of [
    ['login_sso', driverConfig(sys, { mode: 'sso', vus: 1 })],
    ['login_password', driverConfig(sys, { mode: 'password', prompt: 'consent', vus: 1 })],
  ]) {
    const perf = spawn('perf', ['stat', '-x,', '-e', 'context-switches,task-clock,syscalls:sys_enter_fsync', '-p', String(sys.pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    perf.stderr.on('data', (c) => { err += c; });
    await new Promise((r) => setTimeout(r, 300)); // perf attached
    const r = await driver(cfg);
    perf.kill('SIGINT');
    await new Promise((r) => perf.on('close', r));
    const cs = Number(/^([\d.]+),,context-switches/m.exec(err)?.[1]);
    const ms = Number(/^([\d.]+),msec,task-clock/m.exec(err)?.[1]);
    const fsyncs = Number(/^([\d.]+),,syscalls:sys_enter_fsync/m.exec(err)?.[1]);
    if (r.bad) throw new Error(`${id}: ${r.bad} failed logins (${JSON.stringify(r.first_errors)})`);
    if (!r.good || Number.isNaN(cs) || Number.isNaN(ms) || Number.isNaN(fsyncs)) throw new Error(`${id}: no figures: ${r.good} logins, perf said ${err}`);
    res.results[id] = { logins: r.good, cpu_ms_per_login: +(ms / r.good).toFixed(3), context_switches_per_login: +(cs / r.good).toFixed(1), fsyncs_per_login: +(fsyncs / r.good).toFixed(2) };
  }
} finally {
  await cleanup();
}
mkdirSync(OUT, { recursive: true });
const file = path.join(OUT, `sequential-${res.timestamp.replace(/[:-]/g, '')}${label ? `-${label}` : ''}.json`);
writeFileSync(file, `${JSON.stringify(res, null, 2)}\n`);
console.log(JSON.stringify(res));
