// oidc-provider 9 (npm) as the authorization server of an MCP server in upstream mode: open
// Dynamic Client Registration (RFC 7591), PKCE S256 only, resource indicators (RFC 8707) with
// opaque access tokens whose audience is the MCP server URL, introspection (RFC 7662) for the
// resource server's static confidential client, revocation (RFC 7009), rotating refresh tokens,
// `iss` in the authorization response (RFC 9207; oidc-provider always sends it), a headless
// login + consent on GET /interaction/:uid, and POST /test/forget-access-token (token=...) that
// drops one access token early.
//
//   node as.mjs <port|0> <resource url> [access token ttl seconds]
//
// Prints `listening <port>` as the only stdout line; request lines and errors go to stderr.
// oidc-provider is resolved from $OIDC_PEER_DIR (a directory whose node_modules holds it, e.g.
// target/peers/oidc), else from this file's own node_modules lookup path.

import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';

for (const level of ['log', 'info', 'debug']) console[level] = console.error;

const [portArg = '0', resource, ttlArg = '8'] = process.argv.slice(2);
const accessTtl = Number(ttlArg);
if (!resource || !/^https?:\/\//.test(resource) || !Number.isInteger(accessTtl) || accessTtl <= 0) {
  console.error('usage: node as.mjs <port|0> <resource url> [access token ttl seconds]');
  process.exit(2);
}

// The resource server's own client: it introspects bearer tokens, nothing else.
const RS_CLIENT_ID = 'mcp-resource-server';
const RS_CLIENT_SECRET = 'mcp-resource-server-secret';
const RESOURCE_SCOPE = 'mcp:tools';
const ACCOUNT_ID = 'upstream-peer-account-7';

async function loadProvider() {
  const dir = process.env.OIDC_PEER_DIR;
  if (!dir) return import('oidc-provider');
  const require = createRequire(join(resolvePath(dir), 'package.json'));
  let entry;
  try {
    entry = require.resolve('oidc-provider');
  } catch {
    // An ESM-only "exports" map has no require condition: read the entry point ourselves.
    const pkgDir = join(resolvePath(dir), 'node_modules', 'oidc-provider');
    const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
    const exp = typeof pkg.exports === 'string' ? pkg.exports : pkg.exports?.['.'] ?? pkg.exports;
    const rel = (typeof exp === 'string' ? exp : exp?.import ?? exp?.default) ?? pkg.main ?? 'index.js';
    entry = join(pkgDir, typeof rel === 'string' ? rel : rel.default);
  }
  return import(pathToFileURL(entry).href);
}

const { default: Provider, errors } = await loadProvider();

const server = createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(Number(portArg), '127.0.0.1', resolve);
});
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'upstream-peer-1', use: 'sig', alg: 'RS256' };

const provider = new Provider(issuer, {
  clients: [{
    client_id: RS_CLIENT_ID,
    client_secret: RS_CLIENT_SECRET,
    token_endpoint_auth_method: 'client_secret_basic',
    redirect_uris: [],
    grant_types: [],
    response_types: [],
  }],
  jwks: { keys: [jwk] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  responseTypes: ['code'],
  pkce: { required: () => true }, // oidc-provider 9 accepts S256 only
  scopes: ['openid', 'offline_access', RESOURCE_SCOPE],
  claims: { openid: ['sub'] },
  features: {
    devInteractions: { enabled: false },
    // Open registration: no initial access token, any native client with a loopback redirect.
    registration: { enabled: true },
    revocation: { enabled: true },
    // The default policy lets the confidential resource-server client introspect any token.
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (_ctx, _client, oneOf) => oneOf,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx, indicator) => {
        if (indicator !== resource) {
          console.error(`unknown resource indicator ${indicator}`);
          throw new errors.InvalidTarget(`unknown resource ${indicator}`);
        }
        return { scope: RESOURCE_SCOPE, audience: resource, accessTokenFormat: 'opaque', accessTokenTTL: accessTtl };
      },
    },
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  rotateRefreshToken: true,
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  expiresWithSession: async () => false,
  ttl: {
    AccessToken: accessTtl,
    AuthorizationCode: 60,
    IdToken: 60,
    RefreshToken: 24 * 60 * 60,
    Grant: 24 * 60 * 60,
    Interaction: 10 * 60,
    Session: 24 * 60 * 60,
  },
  async findAccount(_ctx, sub) {
    return { accountId: sub, async claims() { return { sub }; } };
  },
  renderError(ctx, out, error) {
    console.error('oidc-provider error page:', out, error?.message);
    ctx.type = 'json';
    ctx.body = out;
  },
});

for (const event of ['server_error', 'grant.error', 'authorization.error', 'registration_create.error',
  'introspection.error', 'revocation.error']) {
  provider.on(event, (_ctx, err) => console.error(event, err?.message, err?.error_description ?? ''));
}
provider.on('registration_create.success', (_ctx, client) => {
  console.error(`registered ${client.clientId} ${client.applicationType} ${client.tokenEndpointAuthMethod} `
    + `${JSON.stringify(client.redirectUris)} ${JSON.stringify(client.grantTypes)}`);
});
provider.on('grant.success', (ctx) => {
  console.error(`grant.success ${ctx.oidc.params.grant_type} resource=${ctx.oidc.params.resource ?? '-'}`);
});

// Auto-login + auto-consent, no form: each GET /interaction/:uid completes the pending prompt and
// redirects back to the authorization endpoint.
async function interaction(ctx, uid) {
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (details.uid !== uid) ctx.throw(400, 'interaction uid does not match the cookie');
  const { prompt, params, session } = details;
  let result;
  if (prompt.name === 'login') {
    result = { login: { accountId: ACCOUNT_ID } };
  } else if (prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
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
  console.error(`interaction ${uid}: ${prompt.name} completed`);
  const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
  ctx.status = 303;
  ctx.redirect(returnTo);
}

// Every request (method, path, status) to stderr, without query strings (they carry codes).
provider.use(async (ctx, next) => {
  try {
    await next();
  } finally {
    console.error(`${ctx.method} ${ctx.path} -> ${ctx.status}`);
  }
});
provider.use(async (ctx, next) => {
  const m = ctx.method === 'GET' && /^\/interaction\/([^/]+)$/.exec(ctx.path);
  if (m) return interaction(ctx, m[1]);
  // Test hook: the server drops one access token before its expiry and nothing else (RFC 7009
  // revocation at /token/revocation would end every token of the grant in oidc-provider).
  if (ctx.method === 'POST' && ctx.path === '/test/forget-access-token') {
    const chunks = [];
    for await (const chunk of ctx.req) chunks.push(chunk);
    const value = new URLSearchParams(Buffer.concat(chunks).toString()).get('token');
    const token = value ? await provider.AccessToken.find(value) : undefined;
    if (token) await token.destroy();
    ctx.status = token ? 204 : 404;
    return undefined;
  }
  return next();
});

server.on('request', provider.callback());
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
process.stdout.write(`listening ${port}\n`);
