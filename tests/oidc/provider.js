// A local OpenID Connect provider for hoth-geo's single sign-on browser tests
// (tests/test_browser_sso.py): the certified `oidc-provider` package with one confidential client
// (the app), the synthetic accounts of accounts.json, and a plain username/password form.
//
// It behaves like Microsoft Entra ID where the app relies on it: the ID token carries `tid`, `oid`,
// `preferred_username`, `email`, `name`, `roles` (app roles) and `groups`; `prompt=select_account`
// (which Streamlit's st.login always sends) shows the sign-in form; consent is granted in advance (as
// an Entra tenant administrator does for a line-of-business app); RP-initiated logout signs out of the
// provider and returns to the app.
//
// Settings (environment):
//   OIDC_PORT                  port on 127.0.0.1 (required); the issuer is http://localhost:<port>
//   OIDC_CLIENT_ID             the app's client id
//   OIDC_CLIENT_SECRET         the app's client secret
//   OIDC_REDIRECT_URI          the app's redirect URI (http://127.0.0.1:<app port>/oauth2callback)
// Prints one line `ready <issuer>` once it listens.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider, { interactionPolicy } from 'oidc-provider';

const required = (name) => {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} must be set`);
    process.exit(2);
  }
  return value;
};

const port = Number(required('OIDC_PORT'));
const clientId = required('OIDC_CLIENT_ID');
const clientSecret = required('OIDC_CLIENT_SECRET');
const redirectUri = required('OIDC_REDIRECT_URI');
// A different host name from the app's 127.0.0.1, so the provider's cookies and the app's never mix
// (browsers keep cookies per host, not per port).
const issuer = `http://localhost:${port}`;

const directory = JSON.parse(readFileSync(new URL('./accounts.json', import.meta.url), 'utf8'));
const accounts = new Map(directory.accounts.map((a) => [a.username.toLowerCase(), a]));

const { Prompt, base: basePolicy } = interactionPolicy;
const policy = basePolicy();
// Entra ID's account picker: requested by the client, answered by signing in on the form below.
policy.add(new Prompt({ name: 'select_account', requestable: true }), 0);

const page = (title, body) => `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>${title}</title></head><body><main><h1>${title}</h1>${body}</main></body></html>`;

const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      client_name: 'hoth-geo (test)',
      redirect_uris: [redirectUri],
      post_logout_redirect_uris: [redirectUri],
      response_types: ['code'],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  // Scope-to-claims, so that the ID token of a code flow carries what Entra's does.
  claims: {
    openid: ['sub', 'tid', 'oid', 'roles', 'groups'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
  },
  conformIdTokenClaims: false,
  async findAccount(ctx, sub) {
    const account = accounts.get(sub);
    if (!account) return undefined;
    return {
      accountId: sub,
      async claims() {
        return {
          sub,
          tid: directory.tenant_id,
          preferred_username: account.username,
          email_verified: true,
          ...account.claims,
        };
      },
    };
  },
  // Consent is granted in advance for the one registered client.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid email profile');
    await grant.save();
    return grant;
  },
  interactions: {
    policy,
    url: (ctx, interaction) => `/interaction/${interaction.uid}`,
  },
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: {
      enabled: true,
      // Sign out without asking (Entra does the same when the app sends the ID token as a hint).
      async logoutSource(ctx, form) {
        ctx.body = page('Signing out', `${form}<script>document.forms[0].submit()</script>
<noscript><button type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button></noscript>`)
          .replace('<input type="hidden" name="xsrf"', '<input type="hidden" name="logout" value="yes"><input type="hidden" name="xsrf"');
      },
      async postLogoutSuccessSource(ctx) {
        ctx.body = page('Signed out', '<p>You have signed out of the test provider.</p>');
      },
    },
  },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  pkce: { required: () => true },
  ttl: {
    AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 3600, Grant: 3600,
  },
  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = page('Sign-in error', `<pre>${escapeHtml(JSON.stringify(out))}</pre>`);
  },
});

const readBody = (req) => new Promise((resolve, reject) => {
  let data = '';
  req.setEncoding('utf8');
  req.on('data', (chunk) => {
    data += chunk;
    if (data.length > 10000) req.destroy();
  });
  req.on('end', () => resolve(new URLSearchParams(data)));
  req.on('error', reject);
});

const loginForm = (uid, error) => page('Sign in to the test provider', `
${error ? `<p role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/interaction/${uid}">
  <label>Username <input name="username" autocomplete="username" autofocus></label>
  <label>Password <input name="password" type="password" autocomplete="current-password"></label>
  <button type="submit">Sign in</button>
</form>`);

const send = (res, status, html) => {
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(html);
};

async function interaction(req, res, uid) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return send(res, 400, page('Sign-in error', '<p>Unknown interaction</p>'));
  if (req.method === 'GET') return send(res, 200, loginForm(uid));
  const form = await readBody(req);
  const username = (form.get('username') || '').trim().toLowerCase();
  const account = accounts.get(username);
  if (!account || account.password !== form.get('password')) {
    return send(res, 200, loginForm(uid, 'Wrong username or password.'));
  }
  return provider.interactionFinished(req, res, {
    select_account: {},
    login: { accountId: username },
  }, { mergeWithLastSubmission: false });
}

const handle = provider.callback();
const server = createServer((req, res) => {
  const match = /^\/interaction\/([A-Za-z0-9_-]+)$/.exec(new URL(req.url, issuer).pathname);
  if (match) {
    interaction(req, res, match[1]).catch((err) => {
      console.error(err);
      if (!res.headersSent) send(res, 500, page('Sign-in error', `<pre>${escapeHtml(err.message)}</pre>`));
    });
    return;
  }
  handle(req, res);
});

server.listen(port, '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
