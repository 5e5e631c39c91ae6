// node-oidc-provider configured like the Motcua bench setup: confidential clients with
// client_secret_basic, RS256 (and ES256) keys, PKCE, introspection, refresh-token rotation,
// client_credentials with JWT access tokens, and a login interaction that verifies an
// Argon2id password (same PHC hash as Motcua's accounts) before finishing.
// Usage: node server.mjs CONFIG.json   (config written by bench/bench.mjs)
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';

const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const require = createRequire(path.join(cfg.modules, 'noop.js'));
const { default: Provider } = await import(require.resolve('oidc-provider'));
const argon2 = require('argon2');

const RESOURCE = 'urn:motcua-bench:api';
const accounts = new Map(cfg.accounts.map((a) => [a.identifier, a]));
const bySub = new Map(cfg.accounts.map((a) => [a.sub, a]));

const provider = new Provider(cfg.issuer, {
  clients: cfg.clients,
  jwks: { keys: cfg.keys },
  cookies: { keys: [cfg.cookieKey] },
  pkce: { required: () => true },
  scopes: ['openid', 'profile', 'email', 'offline_access', 'api'],
  claims: { openid: ['sub'], profile: ['name'], email: ['email', 'email_verified'] },
  rotateRefreshToken: true,
  ttl: { AccessToken: 3600, ClientCredentials: 3600, IdToken: 600, AuthorizationCode: 60,
    RefreshToken: 14 * 24 * 3600, Session: 12 * 3600, Interaction: 1800, Grant: 90 * 24 * 3600 },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    userinfo: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // Only an explicit `resource` (the client_credentials requests) gets a JWT access
      // token; login flows keep the default opaque token, which UserInfo accepts.
      defaultResource: (ctx, client, oneOf) => oneOf,
      useGrantedResource: () => false,
      getResourceServerInfo: (ctx, resource, client) => {
        if (resource !== RESOURCE) throw new Error('unknown resource');
        return {
          scope: 'api',
          audience: client.clientId,
          accessTokenFormat: 'jwt',
          accessTokenTTL: 3600,
          jwt: { sign: { alg: client.clientId.endsWith('-es256') ? 'ES256' : 'RS256' } },
        };
      },
    },
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  findAccount: (ctx, sub) => {
    const a = bySub.get(sub);
    if (!a) return undefined;
    return { accountId: sub, claims: () => ({ sub, name: a.name, email: a.email, email_verified: true }) };
  },
});

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const page = (title, body) => `<!doctype html><html lang="en"><meta charset="utf-8"><title>${esc(title)}</title><body>${body}</body></html>`;
const readForm = (req) => new Promise((resolve, reject) => {
  let data = '';
  req.setEncoding('utf8');
  req.on('data', (c) => { data += c; if (data.length > 65536) req.destroy(); });
  req.on('end', () => resolve(new URLSearchParams(data)));
  req.on('error', reject);
});
const send = (res, status, html) => {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
};

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return send(res, 400, page('Error', 'interaction mismatch'));
  const { prompt, params, session } = details;
  if (req.method === 'GET') {
    if (prompt.name === 'login') {
      return send(res, 200, page('Sign in', `<form method="post" action="/interaction/${uid}/login">
<input id="identifier" name="identifier" type="text" required value="${esc(params.login_hint || '')}">
<input id="password" name="password" type="password" required><button type="submit">Sign in</button></form>`));
    }
    const client = await provider.Client.find(params.client_id);
    return send(res, 200, page('Consent', `<p>${esc(client.clientName || client.clientId)} asks for ${esc(params.scope)}</p>
<form method="post" action="/interaction/${uid}/confirm"><button type="submit" name="decision" value="allow">Allow</button></form>`));
  }
  const form = await readForm(req);
  if (action === 'login' && prompt.name === 'login') {
    const account = accounts.get(form.get('identifier') || '');
    // Unknown accounts cost a dummy verification, as in Motcua.
    const ok = await argon2.verify(account ? account.hash : cfg.dummyHash, form.get('password') || '');
    if (!account || !ok) {
      return send(res, 200, page('Sign in', '<p role="alert">Wrong identifier or password</p>'));
    }
    return provider.interactionFinished(req, res, { login: { accountId: account.sub } }, { mergeWithLastSubmission: false });
  }
  if (action === 'confirm' && prompt.name === 'consent' && form.get('decision') === 'allow') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
    if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
    for (const [indicator, scope] of Object.entries(prompt.details.missingResourceScopes || {})) {
      grant.addResourceScope(indicator, scope.join(' '));
    }
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }
  return send(res, 400, page('Error', 'unexpected submission'));
}

const oidc = provider.callback();
const server = http.createServer((req, res) => {
  const m = /^\/interaction\/([\w-]+)(?:\/(login|confirm))?$/.exec(req.url.split('?')[0]);
  if (!m) return oidc(req, res);
  interaction(req, res, m[1], m[2]).catch((err) => {
    if (!res.headersSent) send(res, 500, page('Error', esc(err.message)));
    else res.end();
  });
});
server.keepAliveTimeout = 65_000;
server.listen(cfg.port, '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
