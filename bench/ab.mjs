// Two builds of Motcua against each other (no peer), in alternation, on the scenarios where a
// change to the store or the token path shows: `node bench/ab.mjs A_BIN B_BIN [ROUNDS]`.
// Each round runs both, in turn first, each in a fresh server and database (`setupMotcua`);
// the summary adds the rounds up per build, so one noisy round weighs less, and prints B/A.
// AB_SCENARIOS picks the scenarios (ids from bench.mjs; default below). Knobs as bench.mjs.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SELF = fileURLToPath(import.meta.url);
const IDS = (process.env.AB_SCENARIOS || 'refresh,refresh_es256,login_sso,login_sso_es256,login_password').split(',');

// One build, one fresh server: prints one JSON line of results.
async function one() {
  // AB_POSTGRES (a server URL, e.g. postgres://postgres@127.0.0.1:5432): each run on a new
  // database of its own there, dropped afterwards, with Redis at AB_REDIS (default
  // redis://127.0.0.1:6379); its keys are the run's own (random ids).
  let db;
  if (process.env.AB_POSTGRES) {
    db = `motcua_ab_${process.pid}_${Date.now()}`;
    execFileSync('psql', [`${process.env.AB_POSTGRES}/postgres`, '-qc', `CREATE DATABASE ${db}`]);
    process.env.BENCH_DATABASE_URL = `${process.env.AB_POSTGRES}/${db}`;
    process.env.BENCH_REDIS_URL = process.env.AB_REDIS || 'redis://127.0.0.1:6379';
  } else {
    delete process.env.BENCH_DATABASE_URL; delete process.env.BENCH_REDIS_URL;
  }
  const { setupMotcua, prepareTokens, measure, SCENARIOS, passwordHash, PASSWORD, cleanup } = await import('./bench.mjs');
  try {
    const sys = await setupMotcua(await passwordHash(PASSWORD));
    await prepareTokens(sys);
    const out = {};
    for (const id of IDS) out[id] = await measure(sys, SCENARIOS.find((s) => s.id === id));
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } finally {
    await cleanup();
    if (db) execFileSync('psql', [`${process.env.AB_POSTGRES}/postgres`, '-qc', `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`]);
  }
}

async function main() {
  const [a, b, rounds = '3'] = process.argv.slice(2);
  if (!a || !b) throw new Error('usage: node bench/ab.mjs A_BIN B_BIN [ROUNDS]');
  const sums = { A: {}, B: {} };
  for (let r = 1; r <= Number(rounds); r += 1) {
    // A then B in odd rounds, B then A in even ones, so neither always runs second.
    const pair = [['A', a], ['B', b]];
    for (const [label, bin] of r % 2 ? pair : pair.reverse()) {
      const line = execFileSync(process.execPath, [SELF, '--one'], { env: { ...process.env, BENCH_IDP_BIN: path.resolve(bin) }, stdio: ['ignore', 'pipe', 'inherit'] });
      const res = JSON.parse(line.toString().trim().split('\n').pop());
      for (const [id, m] of Object.entries(res)) {
        if (m.errors) throw new Error(`${label} ${id}: ${m.errors} errors`);
        const s = (sums[label][id] ||= { ok: 0, cpu: 0, p99: [] });
        s.ok += m.ok; s.cpu += m.server_cpu_s; s.p99.push(m.p99_ms);
        console.error(`round ${r} ${label} ${id}: ${m.per_cpu_s}/CPU-s, p99 ${m.p99_ms} ms`);
      }
    }
  }
  const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  console.log(`| Scenario | A per CPU-s | B per CPU-s | B/A | A p99 ms (median) | B p99 ms (median) |`);
  console.log(`|---|---:|---:|---:|---:|---:|`);
  for (const id of IDS) {
    const [x, y] = [sums.A[id], sums.B[id]];
    const [pa, pb] = [x.ok / x.cpu, y.ok / y.cpu];
    console.log(`| ${id} | ${pa.toFixed(0)} | ${pb.toFixed(0)} | ${(pb / pa).toFixed(2)} | ${median(x.p99).toFixed(1)} | ${median(y.p99).toFixed(1)} |`);
  }
}

await (process.argv[2] === '--one' ? one() : main());
