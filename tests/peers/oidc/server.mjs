// A real, independent OAuth 2.0 authorization server for the bridge's `login` / `status`:
// oidc-provider 9 (npm) plus three plain resource routes that mimic Atlassian's
// accessible-resources, /me and Jira's /myself, each validating the bearer with
// provider.AccessToken.find().
//
//   node server.mjs <port|0> <redirect port>
//
// Prints `listening <port>` as the first (and only) stdout line; everything else goes to stderr.
// oidc-provider is resolved from $OIDC_PEER_DIR (a directory whose node_modules holds it, e.g.
// target/peers/oidc), else from this file's own node_modules lookup path.

import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

// stdout carries exactly one line; route any library chatter (oidc-provider prints its
// development warnings through console.*) to stderr.
for (const level of ['log', 'info', 'debug']) console[level] = console.error;

const [portArg = '0', redirectArg = process.env.OIDC_REDIRECT_PORT] = process.argv.slice(2);
const redirectPort = Number(redirectArg);
if (!Number.isInteger(redirectPort) || redirectPort <= 0 || redirectPort > 65535) {
  console.error('usage: node server.mjs <port|0> <redirect port>');
  process.exit(2);
}

async function loadProvider() {
  const dir = process.env.OIDC_PEER_DIR;
  if (!dir) return (await import('oidc-provider')).default;
  const require = createRequire(join(dir, 'package.json'));
  let entry;
  try {
    entry = require.resolve('oidc-provider');
  } catch {
    // An ESM-only "exports" map has no require condition: read the entry point ourselves.
    const pkgDir = join(dir, 'node_modules', 'oidc-provider');
    const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
    const exp = typeof pkg.exports === 'string' ? pkg.exports : pkg.exports?.['.'] ?? pkg.exports;
    const rel = (typeof exp === 'string' ? exp : exp?.import ?? exp?.default) ?? pkg.main ?? 'index.js';
    entry = join(pkgDir, typeof rel === 'string' ? rel : rel.default);
  }
  return (await import(pathToFileURL(entry).href)).default;
}

const Provider = await loadProvider();

const server = createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(Number(portArg), '127.0.0.1', resolve);
});
const { port } = server.address();
const base = `http://127.0.0.1:${port}`;
const siteUrl = `${base}/site`;
const cloudId = 'oidc-peer-cloud-0001';
const account = {
  accountId: 'oidc-peer-account-42',
  name: 'Oidc Peer User',
  email: 'peer.user@example.test',
};

// A fresh signing key per run (oidc-provider otherwise warns and uses a published dev key).
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'peer-1', use: 'sig', alg: 'RS256' };

const provider = new Provider(base, {
  clients: [{
    client_id: 'bridge-test',
    client_secret: 'bridge-test-secret',
    token_endpoint_auth_method: 'client_secret_post',
    application_type: 'native',
    redirect_uris: [`http://127.0.0.1:${redirectPort}/callback`],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
  }],
  jwks: { keys: [jwk] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  pkce: { required: () => true }, // oidc-provider 9 accepts S256 only
  scopes: ['openid', 'offline_access'],
  claims: { openid: ['sub'], email: ['email'], profile: ['name'] },
  features: {
    devInteractions: { enabled: false },
    // `logout` revokes at /token/revocation (oauth.revocation_url); drive.py introspects.
    // Only the token's own client may do either.
    revocation: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
    introspection: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
  },
  // The default userinfo route is /me, which is the bridge's identity endpoint here.
  routes: { userinfo: '/userinfo' },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  rotateRefreshToken: true,
  issueRefreshToken: async () => true,
  ttl: {
    AccessToken: 3,
    AuthorizationCode: 60,
    IdToken: 60,
    RefreshToken: 24 * 60 * 60,
    Grant: 24 * 60 * 60,
    Interaction: 10 * 60,
    Session: 24 * 60 * 60,
  },
  async findAccount(_ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return { sub, name: account.name, email: account.email };
      },
    };
  },
  renderError(ctx, out, error) {
    console.error('oidc-provider error page:', out, error?.message);
    ctx.type = 'json';
    ctx.body = out;
  },
});

provider.on('server_error', (_ctx, err) => console.error('server_error', err));
provider.on('grant.error', (_ctx, err) => console.error('grant.error', err.message, err.error_description ?? ''));
provider.on('authorization.error', (_ctx, err) => console.error('authorization.error', err.message, err.error_description ?? ''));

// Auto-login + auto-consent: no browser, no form. Each GET /interaction/:uid completes the
// pending prompt (login, then consent) and redirects back to the authorization endpoint;
// GET /interaction/:uid?deny=1 declines instead.
async function interaction(ctx, uid) {
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (details.uid !== uid) ctx.throw(400, 'interaction uid does not match the cookie');
  const { prompt, params, session } = details;
  let result;
  if (ctx.query.deny) {
    // The person declines: oidc-provider sends error=access_denied to the redirect URI.
    result = { error: 'access_denied', error_description: 'the test user declined the request' };
  } else if (prompt.name === 'login') {
    result = { login: { accountId: account.accountId } };
  } else if (prompt.name === 'consent') {
    const accountId = session.accountId;
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId, clientId: params.client_id });
    const d = prompt.details;
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(d.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    result = { consent: { grantId: await grant.save() } };
  } else {
    ctx.throw(400, `unexpected prompt ${prompt.name}`);
  }
  console.error(`interaction ${uid}: ${prompt.name} ${result.error ? 'denied' : 'completed'}`);
  const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, {
    mergeWithLastSubmission: false,
  });
  ctx.status = 303;
  ctx.redirect(returnTo);
}

async function bearer(ctx) {
  const header = ctx.get('authorization');
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  const token = m ? await provider.AccessToken.find(m[1]) : undefined;
  if (!token) {
    ctx.status = 401;
    ctx.set('WWW-Authenticate', 'Bearer error="invalid_token"');
    ctx.body = { errorMessages: [m ? 'access token is invalid or expired' : 'no bearer token'] };
    return undefined;
  }
  return token;
}

// Log every request (method, path, status) to stderr; no query strings (they carry codes).
// (provider.use() inserts middleware in front of the provider's own routes, in call order.)
provider.use(async (ctx, next) => {
  try {
    await next();
  } finally {
    console.error(`${ctx.method} ${ctx.path} -> ${ctx.status}`);
  }
});

// Resource routes and the interaction shortcut.
provider.use(async (ctx, next) => {
  if (ctx.method !== 'GET') return next();
  let m;
  if ((m = /^\/interaction\/([^/]+)$/.exec(ctx.path))) return interaction(ctx, m[1]);
  if (ctx.path === '/oauth/token/accessible-resources') {
    const token = await bearer(ctx);
    if (!token) return undefined;
    ctx.body = [{
      id: cloudId,
      url: siteUrl,
      name: 'oidc-provider peer site',
      scopes: (token.scope ?? '').split(' ').filter(Boolean),
      avatarUrl: `${base}/avatar.png`,
    }];
    return undefined;
  }
  if (ctx.path === '/me') {
    const token = await bearer(ctx);
    if (!token) return undefined;
    ctx.body = { account_id: token.accountId, name: account.name, email: account.email };
    return undefined;
  }
  if ((m = /^\/ex\/jira\/([^/]+)\/rest\/api\/3\/myself$/.exec(ctx.path))) {
    const token = await bearer(ctx);
    if (!token) return undefined;
    if (m[1] !== cloudId) {
      ctx.status = 404;
      ctx.body = { errorMessages: [`unknown cloud id ${m[1]}`] };
      return undefined;
    }
    ctx.body = {
      accountId: token.accountId,
      displayName: account.name,
      emailAddress: account.email,
      active: true,
    };
    return undefined;
  }
  return next();
});

server.on('request', provider.callback());
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
process.stdout.write(`listening ${port}\n`);
