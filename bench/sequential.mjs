// Server CPU and context switches per login, one virtual user at a time, for one build:
// `BENCH_IDP_BIN=target/release/idp node bench/sequential.mjs` (needs `perf`). Without
// concurrency the figures move far less from run to run than bench.mjs's per CPU-second
// ones, so a change of a few percent to a login's cost shows; context switches count the
// hops between threads (a statement on SQLite is one to its connection's thread and back).
import { spawn } from 'node:child_process';
import { setupMotcua, driverConfig, driver, passwordHash, PASSWORD, cleanup } from './bench.mjs';

const sys = await setupMotcua(await passwordHash(PASSWORD));
await driver(driverConfig(sys, { mode: 'collect', count: 4, scope: 'openid', prompt: 'consent' })); // consents given
const out = {};
for (const [id, cfg] of [
  ['login_sso', driverConfig(sys, { mode: 'sso', vus: 1 })],
  ['login_password', driverConfig(sys, { mode: 'password', prompt: 'consent', vus: 1 })],
]) {
  const perf = spawn('perf', ['stat', '-x,', '-e', 'context-switches,task-clock', '-p', String(sys.pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  perf.stderr.on('data', (c) => { err += c; });
  await new Promise((r) => setTimeout(r, 300)); // perf attached
  const r = await driver(cfg);
  perf.kill('SIGINT');
  await new Promise((r) => perf.on('close', r));
  const cs = Number(/^([\d.]+),,context-switches/m.exec(err)?.[1]);
  const ms = Number(/^([\d.]+),msec,task-clock/m.exec(err)?.[1]);
  if (!r.good || Number.isNaN(cs) || Number.isNaN(ms)) throw new Error(`no figures: ${r.good} logins, perf said ${err}`);
  out[id] = { logins: r.good, errors: r.bad, cpu_ms_per_login: +(ms / r.good).toFixed(3), context_switches_per_login: +(cs / r.good).toFixed(1) };
}
console.log(JSON.stringify(out));
await cleanup();
