// Multi-step login driver: N virtual users, each a cookie-keeping browser on a keep-alive
// connection, run complete authorization-code logins (authorize → login form → consent →
// code → token → userinfo) for a fixed time. Every response is checked; anything
// unexpected counts as an error and ends that login.
// Usage: node driver.mjs '{"base":…,"client":{…},"users":[…],"mode":"password|sso|collect",…}'
import http from 'node:http';
import { createHash, randomBytes } from 'node:crypto';

const b64u = (buf) => buf.toString('base64url');
const unescape = (s) => s.replace(/&#(\d+);/g, (_, n) => String.fromCharCode(+n))
  .replace(/&#x([0-9a-f]+);/gi, (_, n) => String.fromCharCode(parseInt(n, 16)))
  .replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

class Browser {
  constructor(base, agent) { this.base = new URL(base); this.agent = agent; this.jar = new Map(); this.requests = 0; }

  request(method, url, { body, headers = {}, cookies = true } = {}) {
    const u = new URL(url, this.base);
    const h = { ...headers };
    if (cookies && this.jar.size) h.cookie = [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
    if (body !== undefined) {
      h['content-type'] = 'application/x-www-form-urlencoded';
      h['content-length'] = Buffer.byteLength(body);
    }
    this.requests += 1;
    return new Promise((resolve, reject) => {
      const req = http.request(u, { method, headers: h, agent: this.agent }, (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (c) => { data += c; });
        res.on('end', () => {
          if (cookies) {
            for (const c of res.headers['set-cookie'] || []) {
              const [pair, ...attrs] = c.split(';');
              const i = pair.indexOf('=');
              const name = pair.slice(0, i).trim();
              const gone = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a) || (/^\s*expires=/i.test(a)
                && Date.parse(a.split('=')[1]) < Date.now()));
              if (gone) this.jar.delete(name); else this.jar.set(name, pair.slice(i + 1).trim());
            }
          }
          resolve({ status: res.statusCode, location: res.headers.location && new URL(res.headers.location, u).href, body: data, url: u });
        });
      });
      req.on('error', reject);
      req.setTimeout(30_000, () => req.destroy(new Error(`timeout ${method} ${u.pathname}`)));
      if (body !== undefined) req.write(body);
      req.end();
    });
  }
}

function fail(what, res) {
  return new Error(`${what}: HTTP ${res.status} at ${res.url.pathname} ${res.body.slice(0, 160).replace(/\s+/g, ' ')}`);
}

// The first POST form on a page: its action and its hidden inputs.
function parseForm(html) {
  const f = /<form[^>]*method="post"[^>]*action="([^"]*)"|<form[^>]*action="([^"]*)"[^>]*method="post"/i.exec(html);
  if (!f) return undefined;
  const fields = new URLSearchParams();
  for (const m of html.matchAll(/<input[^>]*type="hidden"[^>]*>/gi)) {
    const name = /name="([^"]*)"/.exec(m[0]); const value = /value="([^"]*)"/.exec(m[0]);
    if (name) fields.set(unescape(name[1]), value ? unescape(value[1]) : '');
  }
  return { action: unescape(f[1] || f[2]), fields, password: /name="password"/.test(html) };
}

// One complete login; returns the token response. `user` null: SSO expected (no login page).
async function login(b, cfg, user, stats) {
  const verifier = b64u(randomBytes(32));
  const state = b64u(randomBytes(12));
  const q = new URLSearchParams({
    response_type: 'code', client_id: cfg.client.client_id, redirect_uri: cfg.client.redirect_uri,
    scope: cfg.scope, state, nonce: b64u(randomBytes(12)),
    code_challenge: b64u(createHash('sha256').update(verifier).digest()), code_challenge_method: 'S256',
  });
  if (cfg.prompt) q.set('prompt', cfg.prompt);
  let res = await b.request('GET', `${cfg.authorizePath}?${q}`);
  let code;
  for (let hop = 0; hop < 20 && !code; hop += 1) {
    if ((res.status === 302 || res.status === 303) && res.location) {
      if (res.location.startsWith(cfg.client.redirect_uri)) {
        const p = new URL(res.location).searchParams;
        if (p.get('state') !== state || !p.get('code')) throw fail(`bad redirect ${res.location}`, res);
        code = p.get('code');
        break;
      }
      res = await b.request('GET', res.location);
    } else if (res.status === 200) {
      const form = parseForm(res.body);
      if (!form) throw fail('page without a form', res);
      if (form.password) {
        if (!user) throw fail('login page during SSO', res);
        stats.passwordPages += 1;
        form.fields.set('identifier', user.identifier);
        form.fields.set('password', user.password);
      } else {
        stats.consentPages += 1;
        form.fields.set('decision', 'allow');
      }
      res = await b.request('POST', form.action, { body: form.fields.toString() });
      if (res.status !== 302 && res.status !== 303) throw fail('form not accepted', res);
    } else {
      throw fail('unexpected response', res);
    }
  }
  if (!code) throw new Error('no code after 20 hops');
  const basic = `Basic ${Buffer.from(`${encodeURIComponent(cfg.client.client_id)}:${encodeURIComponent(cfg.client.client_secret)}`).toString('base64')}`;
  const body = new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: cfg.client.redirect_uri, code_verifier: verifier });
  res = await b.request('POST', cfg.tokenPath, { body: body.toString(), headers: { authorization: basic }, cookies: false });
  if (res.status !== 200) throw fail('token', res);
  const tokens = JSON.parse(res.body);
  if (!tokens.access_token || !tokens.id_token) throw fail('token response without tokens', res);
  res = await b.request('GET', cfg.userinfoPath, { headers: { authorization: `Bearer ${tokens.access_token}` }, cookies: false });
  if (res.status !== 200 || !res.body.includes('"sub"')) throw fail('userinfo', res);
  return tokens;
}

const pct = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : 0);

async function main() {
  const cfg = JSON.parse(process.argv[2]);
  const agent = new http.Agent({ keepAlive: true, maxSockets: cfg.vus * 2 });
  const stats = { logins: 0, errors: 0, requests: 0, passwordPages: 0, consentPages: 0, latencies: [], firstErrors: [] };
  const record = (e) => { stats.errors += 1; if (stats.firstErrors.length < 3) stats.firstErrors.push(e.message); };

  if (cfg.mode === 'collect') { // setup only: K logins, print their tokens
    const out = [];
    const b = new Browser(cfg.base, agent);
    for (let i = 0; i < cfg.count; i += 1) {
      b.jar.clear();
      out.push(await login(b, cfg, cfg.users[i % cfg.users.length], stats));
    }
    process.stdout.write(JSON.stringify({ tokens: out.map((t) => ({ access_token: t.access_token, refresh_token: t.refresh_token })) }));
    agent.destroy();
    return;
  }

  const browsers = [];
  for (let i = 0; i < cfg.vus; i += 1) {
    const b = new Browser(cfg.base, agent);
    b.user = cfg.users[i % cfg.users.length];
    if (cfg.mode === 'sso') await login(b, { ...cfg, prompt: undefined }, b.user, { passwordPages: 0, consentPages: 0 }); // opens the session (not measured)
    browsers.push(b);
  }
  const t0 = process.hrtime.bigint();
  const end = Date.now() + cfg.duration * 1000;
  await Promise.all(browsers.map(async (b) => {
    b.requests = 0;
    while (Date.now() < end) {
      if (cfg.mode === 'password') b.jar.clear(); // a new browser each time
      const s = process.hrtime.bigint();
      try {
        await login(b, cfg, cfg.mode === 'password' ? b.user : null, stats);
        stats.logins += 1;
        stats.latencies.push(Number(process.hrtime.bigint() - s) / 1e6);
      } catch (e) { record(e); }
    }
    stats.requests += b.requests;
  }));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const sorted = stats.latencies.sort((a, b) => a - b);
  agent.destroy();
  process.stdout.write(`${JSON.stringify({
    good: stats.logins, bad: stats.errors, seconds, http_requests: stats.requests,
    http_requests_per_login: stats.logins ? +(stats.requests / (stats.logins + stats.errors)).toFixed(2) : 0,
    password_pages: stats.passwordPages, consent_pages: stats.consentPages,
    p50_ms: pct(sorted, 50), p99_ms: pct(sorted, 99), first_errors: stats.firstErrors,
  })}\n`);
}

main().catch((e) => { console.error(e.stack || e.message); process.exit(1); });
