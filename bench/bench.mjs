// Motcua vs node-oidc-provider, side by side on loopback, scenario by scenario in alternation.
// Run through bench/run.sh (which installs wrk and oidc-provider and builds Motcua).
// Environment: BENCH_SECONDS (per scenario and system, default 10), BENCH_CONNECTIONS (wrk, 16),
// BENCH_VUS (login virtual users, 8), BENCH_OUT (results folder), BENCH_IDP_BIN (the idp binary,
// target/release/idp).
import { spawn, execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCH = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.dirname(BENCH);
const MODULES = path.join(BENCH, '.work', 'node_modules');
const require = createRequire(path.join(MODULES, 'noop.js'));
const argon2 = require('argon2');

const SECONDS = Number(process.env.BENCH_SECONDS || 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS || 16);
const VUS = Number(process.env.BENCH_VUS || 8);
const OUT = process.env.BENCH_OUT || path.join(BENCH, 'results');
const ARGON2 = { memoryCost: 19456, timeCost: 2, parallelism: 1 }; // Motcua's defaults
const PASSWORD = 'bench passphrase for citizens';
const TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());
const RESOURCE = 'urn:motcua-bench:api';
const work = mkdtempSync(path.join(os.tmpdir(), 'motcua-bench-'));
const children = [];
const log = (...a) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}]`, ...a);

// ---- small helpers -------------------------------------------------------------------------
const sleep = (ms) => new Promise((r) => { setTimeout(r, ms); });
const freePort = () => new Promise((resolve) => {
  const s = net.createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
});
const status = (pid) => {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number((new RegExp(`${k}:\\s+(\\d+)`).exec(s) || [0, 0])[1]);
  return { rss_kb: kb('VmRSS'), anon_kb: kb('RssAnon'), hwm_kb: kb('VmHWM') };
};
const cpuSeconds = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / TICKS; // utime + stime, all threads
};
function get(url) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false }, (res) => {
      let body = ''; res.on('data', (c) => { body += c; }); res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
  });
}
function run(cmd, args, { env, input } = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = ''; let err = '';
    p.stdout.on('data', (c) => { out += c; }); p.stderr.on('data', (c) => { err += c; });
    p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} → ${code}: ${err}`))));
    p.stdin.end(input || '');
  });
}

// Spawn a server and time it until discovery answers 200.
async function startServer(name, cmd, args, env, issuer) {
  const t0 = process.hrtime.bigint();
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c) => { stderr = (stderr + c).slice(-4000); });
  children.push(child);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited: ${stderr}`);
    try {
      const r = await get(`${issuer}/.well-known/openid-configuration`);
      if (r.status === 200) break;
    } catch { /* not listening yet */ }
    if (Number(process.hrtime.bigint() - t0) > 30e9) throw new Error(`${name} did not start: ${stderr}`);
    await sleep(1);
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  return { child, startup_ms: +ms.toFixed(1), stderr: () => stderr };
}
async function stopServer(child) {
  if (child.exitCode !== null) return;
  const done = new Promise((r) => child.on('exit', r));
  child.kill('SIGTERM');
  await Promise.race([done, sleep(10_000)]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

// ---- Motcua --------------------------------------------------------------------------------
async function setupMotcua(hash) {
  const dir = path.join(work, 'motcua'); mkdirSync(dir);
  const [port, adminPort] = [await freePort(), await freePort()];
  const issuer = `http://127.0.0.1:${port}`;
  const bin = process.env.BENCH_IDP_BIN || path.join(ROOT, 'target', 'release', 'idp');
  const env = {
    IDP_ISSUER: issuer, IDP_LISTEN: `127.0.0.1:${port}`, IDP_ADMIN_LISTEN: `127.0.0.1:${adminPort}`,
    // BENCH_DATABASE_URL / BENCH_REDIS_URL: production mode instead (an empty database).
    IDP_DATABASE_URL: process.env.BENCH_DATABASE_URL || `sqlite://${dir}/motcua.db`, IDP_MASTER_KEY_FILE: `${dir}/master.key`,
    ...(process.env.BENCH_REDIS_URL ? { IDP_REDIS_URL: process.env.BENCH_REDIS_URL } : {}),
    IDP_ACCESS_TOKEN_TTL: '3600', RUST_LOG: 'warn',
  };
  const token = (await run(bin, ['bootstrap-admin', '--label', 'bench'], { env })).trim();
  const first = await startServer('motcua', bin, [], env, issuer); // creates the signing keys
  await stopServer(first.child);
  const srv = await startServer('motcua', bin, [], env, issuer); // a restart: the figure reported
  const admin = (args, input) => run(path.join(ROOT, 'target', 'release', 'idp-admin'),
    ['--url', `http://127.0.0.1:${adminPort}`, '--token', token, '--json', ...args], { input });
  await admin(['org', 'create', '--code', 'bench', '--name', 'Bench Ministry', '--kind', 'ministry']);
  const register = async (name, extra) => {
    const out = JSON.parse(await admin(['client', 'register', '--name', name, '--org', 'bench', '--type', 'confidential', ...extra]));
    return { client_id: out.client.client_id, client_secret: out.client_secret };
  };
  const redirect = 'http://127.0.0.1:9/cb';
  const webArgs = ['--redirect-uri', redirect, '--scope', 'openid', '--scope', 'profile', '--scope', 'email', '--scope', 'offline_access'];
  const web = { ...await register('Bench web', webArgs), redirect_uri: redirect };
  // The same service with ES256 access tokens (its ID tokens stay RS256).
  const webEs = { ...await register('Bench web ES256', [...webArgs, '--access-token-alg', 'ES256']), redirect_uri: redirect };
  const ccRs = await register('Bench cc RS256', ['--grant-type', 'client_credentials', '--signing-alg', 'RS256']);
  const ccEs = await register('Bench cc ES256', ['--grant-type', 'client_credentials', '--signing-alg', 'ES256']);
  const users = Array.from({ length: VUS }, (_, i) => ({ identifier: `001090${String(i + 1).padStart(6, '0')}`, password: PASSWORD }));
  const csv = ['national_id,full_name,email,password_hash',
    ...users.map((u, i) => `${u.identifier},Citizen ${i + 1},citizen${i + 1}@example.vn,"${hash}"`)].join('\n');
  writeFileSync(path.join(dir, 'users.csv'), `${csv}\n`);
  await admin(['user', 'import', path.join(dir, 'users.csv')]);
  return {
    admin, dir, name: 'Motcua', pid: srv.child.pid, child: srv.child, issuer, startup_ms: srv.startup_ms, first_startup_ms: first.startup_ms,
    web, webEs, users, authorizePath: '/authorize', tokenPath: '/token', userinfoPath: '/userinfo', introspectPath: '/introspect',
    cc: { RS256: ccRs, ES256: ccEs }, ccExtra: '',
  };
}

// ---- node-oidc-provider --------------------------------------------------------------------
async function setupPeer(hash, dummyHash) {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const jwk = (alg, type, opts) => ({ ...generateKeyPairSync(type, opts).privateKey.export({ format: 'jwk' }), alg, use: 'sig', kid: `${alg.toLowerCase()}-1` });
  const secret = () => randomBytes(32).toString('base64url');
  const redirect = 'http://127.0.0.1:9/cb';
  const web = { client_id: 'bench-web', client_secret: secret(), redirect_uri: redirect };
  const ccRs = { client_id: 'bench-cc-rs256', client_secret: secret() };
  const ccEs = { client_id: 'bench-cc-es256', client_secret: secret() };
  const cc = (c) => ({ ...c, grant_types: ['client_credentials'], response_types: [], redirect_uris: [], scope: 'api' });
  const users = Array.from({ length: VUS }, (_, i) => ({ identifier: `001090${String(i + 1).padStart(6, '0')}`, password: PASSWORD }));
  const cfg = {
    port, issuer, modules: MODULES, cookieKey: secret(), dummyHash,
    keys: [jwk('RS256', 'rsa', { modulusLength: 2048 }), jwk('ES256', 'ec', { namedCurve: 'P-256' })],
    clients: [
      { client_id: web.client_id, client_secret: web.client_secret, redirect_uris: [redirect], client_name: 'Bench web',
        grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], scope: 'openid profile email offline_access' },
      cc(ccRs), cc(ccEs),
    ],
    accounts: users.map((u, i) => ({ identifier: u.identifier, sub: `sub-${i + 1}`, name: `Citizen ${i + 1}`, email: `citizen${i + 1}@example.vn`, hash })),
  };
  const file = path.join(work, 'peer.json');
  writeFileSync(file, JSON.stringify(cfg));
  const srv = await startServer('oidc-provider', process.execPath, [path.join(BENCH, 'peer', 'server.mjs'), file], {}, issuer);
  return {
    name: 'node-oidc-provider', pid: srv.child.pid, child: srv.child, issuer, startup_ms: srv.startup_ms,
    web, users, authorizePath: '/auth', tokenPath: '/token', userinfoPath: '/me', introspectPath: '/token/introspection',
    cc: { RS256: ccRs, ES256: ccEs }, ccExtra: `&resource=${encodeURIComponent(RESOURCE)}&scope=api`,
  };
}

// ---- load --------------------------------------------------------------------------------
const basic = (c) => `Basic ${Buffer.from(`${encodeURIComponent(c.client_id)}:${encodeURIComponent(c.client_secret)}`).toString('base64')}`;

function driverConfig(sys, extra) {
  return { base: sys.issuer, client: sys.web, users: sys.users, vus: VUS, duration: SECONDS, scope: 'openid profile email',
    authorizePath: sys.authorizePath, tokenPath: sys.tokenPath, userinfoPath: sys.userinfoPath, ...extra };
}
async function driver(cfg) {
  return JSON.parse(await run(process.execPath, [path.join(BENCH, 'driver.mjs'), JSON.stringify(cfg)]));
}
async function wrk(sys, s) {
  const env = { BENCH_METHOD: s.method || 'GET', BENCH_PATH: s.path, BENCH_BODY: s.body || '', BENCH_AUTH: s.auth || '',
    BENCH_EXPECT: s.expect || '', BENCH_REFRESH_FILE: s.refreshFile || '', BENCH_THREADS: '1' };
  const out = await run('wrk', ['-t1', `-c${CONNECTIONS}`, `-d${SECONDS}s`, '--timeout', '10s', '-s', path.join(BENCH, 'lua', 'bench.lua'),
    `${sys.issuer}${s.path}`], { env });
  const line = out.split('\n').find((l) => l.startsWith('BENCHJSON '));
  const r = JSON.parse(line.slice(10));
  return { good: r.good, bad: r.bad + r.socket_errors, seconds: r.duration_us / 1e6, p50_ms: r.p50_us / 1000, p99_ms: r.p99_us / 1000 };
}

const SCENARIOS = [
  { id: 'discovery', title: 'Discovery', target: 3,
    wrk: () => ({ path: '/.well-known/openid-configuration', expect: '"issuer"' }) },
  { id: 'jwks', title: 'JWKS', target: 3, wrk: () => ({ path: '/jwks', expect: '"keys"' }) },
  { id: 'cc_rs256', title: 'client_credentials, RS256 access token', target: 1.8,
    wrk: (sys) => ({ method: 'POST', path: sys.tokenPath, auth: basic(sys.cc.RS256), body: `grant_type=client_credentials${sys.ccExtra}`, expect: '"access_token"' }) },
  { id: 'cc_es256', title: 'client_credentials, ES256 access token',
    wrk: (sys) => ({ method: 'POST', path: sys.tokenPath, auth: basic(sys.cc.ES256), body: `grant_type=client_credentials${sys.ccExtra}`, expect: '"access_token"' }) },
  { id: 'introspection', title: 'Introspection (access token of a login)', target: 3,
    wrk: (sys) => ({ method: 'POST', path: sys.introspectPath, auth: basic(sys.web), body: `token=${sys.introspectToken}`, expect: '"active":true' }) },
  { id: 'refresh', title: 'Refresh grant with rotation', target: 3,
    wrk: (sys) => ({ method: 'POST', path: sys.tokenPath, auth: basic(sys.web), refreshFile: sys.refreshFile, expect: '"refresh_token"' }) },
  { id: 'login_password', title: `Complete login, Argon2id password (${VUS} users)`,
    drive: (sys) => driverConfig(sys, { mode: 'password', prompt: 'consent' }) },
  { id: 'login_sso', title: `Complete login, existing SSO session (${VUS} users)`, target: 3,
    drive: (sys) => driverConfig(sys, { mode: 'sso' }) },
  // The same two with Motcua's per-client ES256 access tokens (`--access-token-alg ES256`; ID
  // tokens stay RS256). The peer is not run again: its login access tokens are opaque either way,
  // so its figures are those of the scenario named by `peerFrom`.
  { id: 'refresh_es256', title: 'Refresh grant with rotation, ES256 access token at Motcua', target: 3, peerFrom: 'refresh',
    wrk: (sys) => ({ method: 'POST', path: sys.tokenPath, auth: basic(sys.webEs), refreshFile: sys.refreshFileEs, expect: '"refresh_token"' }) },
  { id: 'login_sso_es256', title: `Complete login, existing SSO session, ES256 access token at Motcua (${VUS} users)`, target: 3, peerFrom: 'login_sso',
    drive: (sys) => driverConfig(sys, { mode: 'sso', client: sys.webEs }) },
];

async function measure(sys, s) {
  const cpu0 = cpuSeconds(sys.pid);
  const r = s.wrk ? await wrk(sys, s.wrk(sys)) : await driver(s.drive(sys));
  const cpu = cpuSeconds(sys.pid) - cpu0;
  const out = {
    ok: r.good, errors: r.bad, seconds: +r.seconds.toFixed(2), per_s: +(r.good / r.seconds).toFixed(1),
    server_cpu_s: +cpu.toFixed(2), per_cpu_s: cpu > 0 ? +(r.good / cpu).toFixed(1) : null,
    p50_ms: +r.p50_ms.toFixed(2), p99_ms: +r.p99_ms.toFixed(2),
  };
  if (r.http_requests_per_login !== undefined) Object.assign(out, { http_requests_per_login: r.http_requests_per_login, password_pages: r.password_pages, consent_pages: r.consent_pages, first_errors: r.first_errors });
  return out;
}

// Logins that yield refresh tokens (files for wrk's rotation, `refreshFile` and, for Motcua's
// ES256 client, `refreshFileEs`) and an access token to introspect.
async function prepareTokens(sys) {
  const count = Math.max(2 * CONNECTIONS, 32);
  const collect = async (client, file) => {
    const { tokens } = await driver(driverConfig(sys, { mode: 'collect', count, scope: 'openid offline_access', prompt: 'consent', client }));
    if (tokens.some((t) => !t.refresh_token)) throw new Error(`${sys.name}: no refresh token`);
    writeFileSync(file, tokens.slice(1).map((t) => t.refresh_token).join('\n'));
    return tokens;
  };
  sys.refreshFile = path.join(work, `${sys.name}.refresh`);
  sys.introspectToken = (await collect(sys.web, sys.refreshFile))[0].access_token;
  if (sys.webEs) {
    sys.refreshFileEs = path.join(work, `${sys.name}.refresh-es256`);
    await collect(sys.webEs, sys.refreshFileEs);
  }
}

// ---- reference figures ---------------------------------------------------------------------
function opensslRsa() {
  const out = execFileSync('openssl', ['speed', '-seconds', '3', 'rsa2048'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
  const m = /rsa\s+2048 bits\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)/.exec(out);
  return { sign_per_s: Number(m[1]), verify_per_s: Number(m[2]) };
}
// Hashes per CPU-second with Motcua's own argon2 crate, as many threads as cores (Motcua's
// default max_concurrent_hashes), measured just before the password-login scenario.
function argon2Speed() {
  const bin = path.join(BENCH, '.work', 'target', 'release', 'argon2-speed');
  const r = JSON.parse(execFileSync(bin, [String(ARGON2.memoryCost), String(ARGON2.timeCost), '3', String(os.cpus().length)]).toString());
  return { ...r, hashes_per_s: r.hashes_per_s_per_core };
}
async function nodeArgon2Speed(hash) {
  const t0 = process.hrtime.bigint(); let n = 0;
  while (Number(process.hrtime.bigint() - t0) < 3e9) { await argon2.verify(hash, PASSWORD); n += 1; }
  return +(n / (Number(process.hrtime.bigint() - t0) / 1e9)).toFixed(2);
}

// ---- report --------------------------------------------------------------------------------
const fmt = (n, d = 0) => (n === null || n === undefined || Number.isNaN(n) ? '–' : Number(n).toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));

function verdicts(res) {
  const v = []; const m = res.results; const ref = res.reference;
  const add = (what, value, goal, pass) => v.push({ what, value, goal, pass });
  for (const s of SCENARIOS) {
    const r = m[s.id]; const ratio = r.ratio_per_cpu;
    if (s.target) add(`${s.title}: Motcua/peer per CPU-second`, `${fmt(ratio, 2)}×`, `≥ ${s.target}×`, ratio >= s.target);
    add(`${s.title}: p99 peer/Motcua`, `${fmt(r.p99_ratio, 2)}×`, '≥ 2× lower', r.p99_ratio >= 2);
  }
  const rsLimit = 0.7 * ref.openssl_rsa2048.sign_per_s;
  add('client_credentials RS256: Motcua per CPU-second vs 70% of `openssl speed rsa2048` sign/s', fmt(m.cc_rs256.motcua.per_cpu_s), `≥ ${fmt(rsLimit)}`, m.cc_rs256.motcua.per_cpu_s >= rsLimit);
  const es = m.cc_es256.motcua.per_cpu_s / m.cc_rs256.peer.per_cpu_s;
  add("client_credentials ES256: Motcua vs the peer's RS256, per CPU-second", `${fmt(es, 2)}×`, '≥ 5×', es >= 5);
  const a2 = ref.argon2id_motcua_crate.hashes_per_s;
  add('Password logins per CPU-second vs Argon2id hashes per core-second', `${fmt(m.login_password.motcua.per_cpu_s, 1)} vs ${fmt(a2, 1)} (${fmt(100 * m.login_password.motcua.per_cpu_s / a2, 0)}%)`, '≥ 90%', m.login_password.motcua.per_cpu_s >= 0.9 * a2);
  add('Idle memory (VmRSS)', `${fmt(res.motcua.rss_idle_kb / 1024, 2)} MiB (${fmt(res.motcua.rss_idle_kb * 1.024 / 1000, 1)} MB)`, '< 20 MiB', res.motcua.rss_idle_kb < 20 * 1024);
  add('Start-up to first discovery', `${fmt(res.motcua.startup_ms, 1)} ms`, '< 100 ms', res.motcua.startup_ms < 100);
  return v;
}

function markdown(res) {
  const L = [];
  const m = res.results;
  L.push(`# Benchmark ${res.timestamp}`, '');
  L.push(`Machine: ${res.machine.cpu}, ${res.machine.cores} cores, ${res.machine.memory_gb} GB, ${res.machine.kernel}${res.machine.load_average_before ? ` (1-minute load average ${res.machine.load_average_before[0]} before the run, ${res.machine.load_average_after[0]} after: other work on the machine)` : ''}; Motcua ${res.motcua.version} (release, ${res.motcua.backend || 'SQLite'}), node-oidc-provider ${res.peer.version} on Node ${res.machine.node} (in-memory adapter). Load on the same machine: wrk -t1 -c${res.settings.wrk_connections}, ${res.settings.login_users} login users, ${res.settings.seconds} s per scenario and system, alternating. Both servers and the load generator share the 2 cores, so rates are compared **per second of server CPU** (utime+stime from /proc).`, '');
  L.push('| scenario | Motcua /s | Motcua /CPU-s | Motcua p50 / p99 ms | peer /s | peer /CPU-s | peer p50 / p99 ms | ratio /CPU-s | ratio /s | errors M / P |');
  L.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const s of SCENARIOS) {
    const r = m[s.id]; const a = r.motcua; const b = r.peer;
    L.push(`| ${s.title} | ${fmt(a.per_s)} | ${fmt(a.per_cpu_s)} | ${fmt(a.p50_ms, 2)} / ${fmt(a.p99_ms, 2)} | ${fmt(b.per_s)} | ${fmt(b.per_cpu_s)} | ${fmt(b.p50_ms, 2)} / ${fmt(b.p99_ms, 2)} | **${fmt(r.ratio_per_cpu, 2)}×** | ${fmt(r.ratio_per_s, 2)}× | ${a.errors} / ${b.errors} |`);
  }
  L.push(`| Start-up to first discovery (ms) | ${fmt(res.motcua.startup_ms, 1)} (first ever start: ${fmt(res.motcua.first_startup_ms, 1)}) | | | ${fmt(res.peer.startup_ms, 1)} | | | | | |`);
  L.push(`| Memory idle / peak, VmRSS / VmHWM (MiB) | ${fmt(res.motcua.rss_idle_kb / 1024, 1)} / ${fmt(res.motcua.hwm_kb / 1024, 1)} | | | ${fmt(res.peer.rss_idle_kb / 1024, 1)} / ${fmt(res.peer.hwm_kb / 1024, 1)} | | | | | |`);
  L.push(`| Private memory idle, RssAnon (MiB; the rest of VmRSS is file pages of the program and its libraries) | ${fmt(res.motcua.anon_idle_kb / 1024, 1)} | | | ${fmt(res.peer.anon_idle_kb / 1024, 1)} | | | | | |`);
  L.push('', "The rows \"ES256 access token at Motcua\" compare with the peer's figures of the same scenario without it: the peer's login access tokens are opaque either way, so it is not run twice.", '');
  const lp = m.login_password;
  L.push(`HTTP requests per complete login: Motcua ${lp.motcua.http_requests_per_login}, peer ${lp.peer.http_requests_per_login} (password); Motcua ${m.login_sso.motcua.http_requests_per_login}, peer ${m.login_sso.peer.http_requests_per_login} (SSO).`, '');
  L.push(`Reference: \`openssl speed rsa2048\` ${fmt(res.reference.openssl_rsa2048.sign_per_s)} sign/s on one core; Argon2id (m=${ARGON2.memoryCost} KiB, t=${ARGON2.timeCost}, p=1) ${fmt(res.reference.argon2id_motcua_crate.hashes_per_s, 1)} hashes per CPU-second with Motcua's \`argon2\` crate (bench/argon2-speed, ${res.reference.argon2id_motcua_crate.threads} hashes at once, measured just before the password logins), ${fmt(res.reference.argon2id_node_peer, 1)}/s (one at a time, wall clock) with the peer's \`argon2\` npm package.`, '');
  L.push('## Targets', '', '| target | value | goal | |', '|---|---|---|---|');
  for (const v of res.verdicts) L.push(`| ${v.what} | ${v.value} | ${v.goal} | ${v.pass ? 'PASS' : '**MISS**'} |`);
  // What the RSA signatures alone allow: Motcua's token responses for a login carry two RS256
  // signatures (the ID token and the RFC 9068 JWT access token), or one with ES256 access tokens;
  // the peer's carry one (its access tokens are opaque). Even with everything else free, Motcua's
  // rate per CPU-second cannot pass sign/s ÷ signatures, which bounds the ratio against the peer's
  // measured rate. (An ES256 signature costs about a tenth of an RS256 one; left out.)
  const sign = res.reference.openssl_rsa2048.sign_per_s;
  L.push('', '## Ceilings set by RSA signing', '',
    `Each refresh and each complete login signs two RS256 tokens at Motcua (ID token, JWT access token), one with ES256 access tokens, and one at the peer (opaque access token). At ${fmt(sign)} RSA-2048 signatures per core-second, the RSA signatures alone cap Motcua at ${fmt(sign / 2)} (two) or ${fmt(sign)} (one) per CPU-second, whatever else it does:`, '',
    '| scenario | RSA signatures | ceiling /CPU-s (signatures only) | ceiling ratio vs the peer measured | Motcua measured | share of the ceiling |', '|---|---:|---:|---:|---:|---:|');
  for (const [id, signatures] of [['refresh', 2], ['login_sso', 2], ['refresh_es256', 1], ['login_sso_es256', 1]]) {
    const r = m[id]; const cap = sign / signatures;
    L.push(`| ${SCENARIOS.find((s) => s.id === id).title} | ${signatures} | ${fmt(cap)} | ${fmt(cap / r.peer.per_cpu_s, 2)}× | ${fmt(r.motcua.per_cpu_s)} | ${fmt(100 * r.motcua.per_cpu_s / cap, 0)}% |`);
  }
  L.push('', '## Published anchors (Motcua per CPU-second = per vCPU)', '');
  const kc = (x, k) => `${fmt(x)} vs ${k} (${fmt(x / k, 1)}×)`;
  L.push(`- Keycloak sizing guide, per vCPU: password logins ${kc(lp.motcua.per_cpu_s, 15)}; client-credentials ${kc(m.cc_rs256.motcua.per_cpu_s, 120)}; refresh ${kc(m.refresh.motcua.per_cpu_s, 120)}; memory ${fmt(res.motcua.hwm_kb / 1024, 0)} MiB peak vs 1,250 MB per node.`);
  L.push(`- Ory Hydra on 2 cores: client-credentials ${kc(2 * m.cc_rs256.motcua.per_cpu_s, 513)}; introspection ${kc(2 * m.introspection.motcua.per_cpu_s, 5109)} (Motcua per CPU-second × 2).`);
  return `${L.join('\n')}\n`;
}

// One Argon2id hash (Motcua's parameters) shared by every bench account of both systems; the
// PHC parameter order m,t,p is what Motcua's import expects (the hash bytes do not depend on it).
async function passwordHash(password) {
  const h = await argon2.hash(password, { type: argon2.argon2id, ...ARGON2 });
  return h.replace(/m=(\d+),p=(\d+),t=(\d+)/, 'm=$1,t=$3,p=$2');
}

// ---- main ----------------------------------------------------------------------------------
async function main() {
  const started = Date.now();
  const loadBefore = os.loadavg().map((x) => +x.toFixed(2));
  log('reference figures: openssl speed rsa2048, Argon2id');
  const reference = { openssl_rsa2048: opensslRsa() };
  const hash = await passwordHash(PASSWORD);
  const dummyHash = await passwordHash(randomBytes(16).toString('hex'));
  reference.argon2id_node_peer = await nodeArgon2Speed(hash);

  log('starting Motcua and node-oidc-provider');
  const motcua = await setupMotcua(hash);
  const peer = await setupPeer(hash, dummyHash);
  await sleep(1000);
  for (const sys of [motcua, peer]) Object.assign(sys, { rss_idle_kb: status(sys.pid).rss_kb, anon_idle_kb: status(sys.pid).anon_kb });

  log('setup: logins that yield refresh tokens and an access token to introspect');
  for (const sys of [motcua, peer]) await prepareTokens(sys);

  const results = {};
  for (const [i, s] of SCENARIOS.entries()) {
    const order = i % 2 === 0 ? [motcua, peer] : [peer, motcua];
    if (s.id === 'login_password') {
      log('Argon2id hashes per CPU-second (bench/argon2-speed)');
      reference.argon2id_motcua_crate = argon2Speed();
    }
    const r = s.peerFrom ? { peer: results[s.peerFrom].peer } : {};
    for (const sys of order.filter((x) => !(s.peerFrom && x === peer))) {
      log(`${s.id}: ${sys.name}`);
      r[sys === motcua ? 'motcua' : 'peer'] = await measure(sys, s);
      await sleep(500);
    }
    r.ratio_per_cpu = r.motcua.per_cpu_s && r.peer.per_cpu_s ? +(r.motcua.per_cpu_s / r.peer.per_cpu_s).toFixed(2) : null;
    r.ratio_per_s = r.peer.per_s ? +(r.motcua.per_s / r.peer.per_s).toFixed(2) : null;
    r.p99_ratio = r.motcua.p99_ms ? +(r.peer.p99_ms / r.motcua.p99_ms).toFixed(2) : null;
    results[s.id] = r;
    log(`${s.id}: Motcua ${r.motcua.per_s}/s (${r.motcua.per_cpu_s}/CPU-s, p99 ${r.motcua.p99_ms} ms, ${r.motcua.errors} errors); peer ${r.peer.per_s}/s (${r.peer.per_cpu_s}/CPU-s, p99 ${r.peer.p99_ms} ms, ${r.peer.errors} errors)`);
  }
  const sysOut = (sys) => ({ ...status(sys.pid), startup_ms: sys.startup_ms, rss_idle_kb: sys.rss_idle_kb, anon_idle_kb: sys.anon_idle_kb });
  const git = (args) => { try { return execFileSync('git', ['-C', ROOT, ...args]).toString().trim(); } catch { return '?'; } };
  const res = {
    timestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    machine: {
      cpu: (/model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8')) || [0, '?'])[1].trim(),
      cores: os.cpus().length, memory_gb: Math.round(os.totalmem() / 2 ** 30), kernel: `Linux ${os.release()}`, node: process.version,
      load_average_before: loadBefore, load_average_after: os.loadavg().map((x) => +x.toFixed(2)),
    },
    settings: { seconds: SECONDS, wrk_connections: CONNECTIONS, login_users: VUS, argon2: ARGON2 },
    motcua: { version: git(['rev-parse', '--short', 'HEAD']) + (git(['status', '--porcelain', '--', 'idp']) ? '+dirty' : ''), backend: [process.env.BENCH_DATABASE_URL ? 'PostgreSQL' : 'SQLite', process.env.BENCH_REDIS_URL ? 'Redis' : 'in-process cache'].join(' + '), first_startup_ms: motcua.first_startup_ms, ...sysOut(motcua) },
    peer: { version: JSON.parse(readFileSync(path.join(MODULES, 'oidc-provider', 'package.json'), 'utf8')).version, ...sysOut(peer) },
    reference, results,
  };
  res.verdicts = verdicts(res);
  res.wall_seconds = Math.round((Date.now() - started) / 1000);
  mkdirSync(OUT, { recursive: true });
  const stamp = res.timestamp.replace(/[:]/g, '').replace(/-/g, '');
  const md = markdown(res);
  writeFileSync(path.join(OUT, `${stamp}.json`), `${JSON.stringify(res, null, 2)}\n`);
  writeFileSync(path.join(OUT, `${stamp}.md`), md);
  writeFileSync(path.join(OUT, 'latest.md'), md);
  process.stdout.write(md);
  log(`wrote ${path.join(OUT, `${stamp}.json`)} and .md (${res.wall_seconds} s)`);
}

export const cleanup = async () => { for (const c of children) await stopServer(c); rmSync(work, { recursive: true, force: true }); };
export { setupMotcua, prepareTokens, driverConfig, driver, measure, SCENARIOS, passwordHash, status, log, work, PASSWORD, SECONDS, VUS, OUT, fmt };

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === '--render') {
  // Re-render the Markdown of an earlier run: node bench/bench.mjs --render results/X.json
  const res = JSON.parse(readFileSync(process.argv[3], 'utf8'));
  res.verdicts = verdicts(res);
  const md = markdown(res);
  writeFileSync(process.argv[3].replace(/\.json$/, '.md'), md);
  process.stdout.write(md);
  rmSync(work, { recursive: true, force: true });
} else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().then(cleanup, async (e) => { console.error(e.stack || e); await cleanup(); process.exit(1); });
}
