// Store scale test: Motcua alone, SQLite, accounts seeded through `idp-admin user import`
// (the bulk CSV path); login and token latency measured at each size, with the measured
// accounts spread over the whole table. Sizes from SCALE_SIZES (default 10000,1000000).
import { createWriteStream, statSync } from 'node:fs';
import path from 'node:path';
import {
  setupMotcua, driver, driverConfig, measure, SCENARIOS, passwordHash, status, log, work, PASSWORD, SECONDS, VUS, OUT, fmt, cleanup,
} from './bench.mjs';
import { writeFileSync, mkdirSync } from 'node:fs';

const SIZES = (process.env.SCALE_SIZES || '10000,1000000').split(',').map(Number);
// Account n: province 001 (Hà Nội), century/gender digit 0, birth year 90 (91 for n ≥ 1,000,000),
// then a 6-digit serial.
const nationalId = (n) => `0010${90 + Math.floor(n / 1e6)}${String(n % 1e6).padStart(6, '0')}`;

async function writeCsv(file, from, to, hash) {
  const out = createWriteStream(file);
  out.write('national_id,full_name,email,password_hash\n');
  for (let i = from; i <= to; i += 1) {
    if (!out.write(`${nationalId(i)},Citizen ${i},citizen${i}@example.vn,"${hash}"\n`)) await new Promise((r) => out.once('drain', r));
  }
  await new Promise((r) => out.end(r));
}

async function main() {
  const started = Date.now();
  const hash = await passwordHash(PASSWORD);
  const sys = await setupMotcua(hash); // also imports serials 1..VUS
  const byId = Object.fromEntries(SCENARIOS.map((s) => [s.id, s]));
  const rows = [];
  let seeded = VUS;
  for (const size of SIZES) {
    if (size > seeded) {
      const file = path.join(work, `users-${size}.csv`);
      await writeCsv(file, seeded + 1, size, hash);
      log(`importing ${size - seeded} accounts (${(statSync(file).size / 2 ** 20).toFixed(0)} MB CSV)`);
      const t0 = Date.now();
      await sys.admin(['user', 'import', file]);
      const importSeconds = (Date.now() - t0) / 1000;
      log(`imported in ${importSeconds} s`);
      rows.push({ size, import_rows: size - seeded, import_seconds: importSeconds });
      seeded = size;
    } else rows.push({ size, import_rows: 0, import_seconds: 0 });
    const row = rows[rows.length - 1];
    // Log in as accounts spread over the table: serials size/VUS, 2·size/VUS, …, size.
    sys.users = Array.from({ length: VUS }, (_, k) => ({ identifier: nationalId(Math.round(((k + 1) * size) / VUS)), password: PASSWORD }));
    const { tokens } = await driver(driverConfig(sys, { mode: 'collect', count: 32, scope: 'openid offline_access', prompt: 'consent' }));
    sys.introspectToken = tokens[0].access_token;
    sys.refreshFile = path.join(work, `refresh-${size}`);
    writeFileSync(sys.refreshFile, tokens.slice(1).map((t) => t.refresh_token).join('\n'));
    for (const id of ['login_password', 'login_sso', 'refresh', 'introspection', 'cc_rs256']) {
      log(`${size}: ${id}`);
      row[id] = await measure(sys, byId[id]);
    }
    row.db_mb = +(statSync(path.join(sys.dir, 'motcua.db')).size / 2 ** 20).toFixed(0);
    row.rss_kb = status(sys.pid).rss_kb;
  }
  const res = { timestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), engine: 'sqlite', seconds_per_scenario: SECONDS, login_users: VUS, rows, wall_seconds: Math.round((Date.now() - started) / 1000) };
  const L = [`# Scale test ${res.timestamp}`, '', `Motcua alone (release, SQLite), accounts seeded with \`idp-admin user import\`; the ${VUS} measured accounts are spread over the whole table. ${SECONDS} s per scenario.`, '',
    '| accounts | import (rows, s) | DB MB | password login /s, p50 / p99 ms | SSO login /s, p50 / p99 ms | refresh /s, p50 / p99 ms | introspection /s, p50 / p99 ms | client_credentials /s, p50 / p99 ms |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|'];
  const c = (r) => `${fmt(r.per_s)}, ${fmt(r.p50_ms, 1)} / ${fmt(r.p99_ms, 1)}${r.errors ? ` (${r.errors} errors)` : ''}`;
  for (const r of rows) L.push(`| ${fmt(r.size)} | ${fmt(r.import_rows)} in ${fmt(r.import_seconds, 0)} s | ${r.db_mb} | ${c(r.login_password)} | ${c(r.login_sso)} | ${c(r.refresh)} | ${c(r.introspection)} | ${c(r.cc_rs256)} |`);
  const md = `${L.join('\n')}\n`;
  mkdirSync(OUT, { recursive: true });
  const stamp = res.timestamp.replace(/[:-]/g, '');
  writeFileSync(path.join(OUT, `scale-${stamp}.json`), `${JSON.stringify(res, null, 2)}\n`);
  writeFileSync(path.join(OUT, `scale-${stamp}.md`), md);
  writeFileSync(path.join(OUT, 'scale-latest.md'), md);
  process.stdout.write(md);
}

main().then(cleanup, async (e) => { console.error(e.stack || e); await cleanup(); process.exit(1); });
