// CPU profile of one Motcua scenario under load (default: the token endpoint with
// client_credentials RS256): `perf record --call-graph dwarf` on the idp process, then the
// symbols with the most time including callees, and per shared object.
// Writes bench/results/profile-<scenario>.txt and keeps the samples in
// bench/.work/perf-<scenario>.data. Needs perf (Debian linux-perf).
// Usage: node bench/profile.mjs [SCENARIO_ID]   (ids as in bench.mjs: cc_rs256, introspection, login_sso…)
import { spawn, execFileSync } from 'node:child_process';
import { writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { setupMotcua, prepareTokens, measure, SCENARIOS, passwordHash, PASSWORD, OUT, log, cleanup } from './bench.mjs';

const id = process.argv[2] || 'cc_rs256';
const SECONDS = Number(process.env.BENCH_SECONDS || 10);

async function main() {
  const sys = await setupMotcua(await passwordHash(PASSWORD));
  await prepareTokens(sys);
  // Kept in the git-ignored bench/.work for `perf report` by hand afterwards.
  const data = path.join(path.dirname(new URL(import.meta.url).pathname), '.work', `perf-${id}.data`);
  mkdirSync(path.dirname(data), { recursive: true });
  const perf = spawn('perf', ['record', '-F', '499', '--call-graph', 'dwarf,16384', '-p', String(sys.pid), '-o', data, '--', 'sleep', String(SECONDS)], { stdio: 'ignore' });
  const done = new Promise((r) => perf.on('exit', r));
  log(`profiling ${id}`);
  const scenario = SCENARIOS.find((s) => s.id === id);
  if (!scenario) throw new Error(`unknown scenario ${id}; one of ${SCENARIOS.map((s) => s.id).join(', ')}`);
  const r = await measure(sys, scenario);
  await done;
  // A profile of failing requests would show the error path, not the scenario.
  if (r.errors) throw new Error(`${r.errors} errors under load: ${JSON.stringify(r)}`);
  const report = (args) => execFileSync('perf', ['report', '-i', data, '--stdio', '-g', 'none', ...args], { maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'ignore'] }).toString()
    .split('\n').map((l) => l.replace(/\s+-\s+-\s*$/, '').trimEnd())
    .filter((l) => l && !l.startsWith('#') && !/\] 0x[0-9a-f]+$/.test(l)).join('\n');
  const text = `Motcua ${id} under load: ${JSON.stringify(r)}\n\n== by shared object (self) ==\n${report(['--no-children', '--sort', 'dso'])}\n\n`
    + `== symbols, time including callees (>= 1.5%; libcrypto has no symbols, its frames are omitted) ==\n${report(['--children', '--sort', 'symbol', '--percent-limit', '1.5'])}\n`;
  mkdirSync(OUT, { recursive: true });
  writeFileSync(path.join(OUT, `profile-${id}.txt`), text);
  process.stdout.write(text);
}
main().then(cleanup, async (e) => { console.error(e.stack || e); await cleanup(); process.exit(1); });
