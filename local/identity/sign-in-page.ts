/**
 * The development sign-in page: the identity provider's stand-in for Entra ID's sign-in screens. It
 * says plainly what it is, and lists the demo users to sign in as; no password is asked for.
 */

export interface SignInChoice {
  upn: string;
  name?: string;
  roles?: readonly string[];
}

const escape = (value: string): string => value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * No script, no frame: the page is a form and nothing else. The form posts to the provider, whose answer
 * redirects to the application: browsers hold that redirect to `form-action` too, hence `redirectOrigins`.
 */
export function signInPageHeaders(redirectOrigins: readonly string[] = []): Record<string, string> {
  return {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Security-Policy':
      `default-src 'none'; style-src 'unsafe-inline'; form-action 'self' ${redirectOrigins.join(' ')}; ` +
      "frame-ancestors 'none'; base-uri 'none'",
    'Cache-Control': 'no-store',
    'Referrer-Policy': 'no-referrer',
    'X-Content-Type-Options': 'nosniff',
  };
}

const STYLE = `
body { font: 16px/1.5 system-ui, sans-serif; margin: 0; color: #1b1b1b; background: #f3f3f3; }
main { max-width: 34rem; margin: 2rem auto; background: #fff; padding: 1.5rem 2rem; border-radius: 6px;
  box-shadow: 0 1px 3px #0003; }
.banner { background: #fff4ce; color: #3b2f00; border: 2px solid #8a6d00; padding: .75rem 1rem; border-radius: 4px; }
h1 { font-size: 1.5rem; }
ul { list-style: none; padding: 0; }
li { margin: .5rem 0; }
button { width: 100%; text-align: left; font: inherit; padding: .75rem 1rem; border: 1px solid #5c5c5c;
  border-radius: 4px; background: #fff; color: #1b1b1b; cursor: pointer; }
button:hover { background: #eef4fb; }
button:focus-visible { outline: 3px solid #0f5cb8; outline-offset: 2px; }
.upn { display: block; color: #404040; font-size: .9rem; }
.role { display: inline-block; margin-left: .5rem; padding: 0 .4rem; border-radius: 3px; background: #0f5cb8; color: #fff;
  font-size: .8rem; }
`;

function page(title: string, body: string): string {
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>${escape(title)}</title>
<style>${STYLE}</style></head><body><main>${body}</main></body></html>`;
}

/**
 * The page for one authorization request: a form per user that posts the request's parameters back
 * with the chosen user. `fields` are the request's parameters (no secret: a PKCE challenge, state, nonce).
 */
export function signInPage(options: {
  tenant: string;
  clientName: string;
  action: string;
  fields: Record<string, string>;
  users: readonly SignInChoice[];
}): string {
  const hidden = Object.entries(options.fields)
    .map(([name, value]) => `<input type="hidden" name="${escape(name)}" value="${escape(value)}">`)
    .join('');
  const users = options.users
    .map(
      (user) =>
        `<li><button type="submit" name="login_hint" value="${escape(user.upn)}">` +
        `<strong>${escape(user.name ?? user.upn)}</strong>` +
        (user.roles ?? []).map((role) => `<span class="role">${escape(role)}</span>`).join('') +
        `<span class="upn">${escape(user.upn)}</span></button></li>`,
    )
    .join('');
  return page(
    'Development sign-in',
    `<p class="banner" role="note"><strong>Development sign-in.</strong> This is the local stack's stand-in for
Microsoft Entra ID: anyone can sign in as any user listed here, without a password. It exists only on this machine.</p>
<h1>Development sign-in</h1>
<p>Sign in to <strong>${escape(options.clientName)}</strong> in tenant <strong>${escape(options.tenant)}</strong> as:</p>
<form method="post" action="${escape(options.action)}">${hidden}
<ul aria-label="Demo users">${users}</ul></form>`,
  );
}

/** A request that cannot be redirected back safely (unknown client or redirect URI) ends here. */
export function signInErrorPage(error: string, description: string): string {
  return page(
    'Development sign-in: error',
    `<p class="banner" role="note"><strong>Development sign-in.</strong></p><h1>Sign-in failed</h1>
<p role="alert"><strong>${escape(error)}</strong>: ${escape(description)}</p>`,
  );
}
