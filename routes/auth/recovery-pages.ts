/*
 * The small HTML pages that the e-mail links open, and the pages their forms answer. No
 * framework, no script, no style, nothing inline: they work under any Content-Security-Policy
 * and without JavaScript. Forms post to a relative URL, so the pages work under a prefix.
 */

export const escapeHtml = (value: string) => value.replace(/[&<>"']/g, c => `&#${c.charCodeAt(0)};`)

/** Headers of every page: the token is in the URL, so no Referer leaves it and nothing caches it. */
export const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'content-security-policy': "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
}

/** A whole page: `title` as its title and heading, `body` as it is (escape what goes into it). */
export function page (title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)}</title>
</head>
<body>
<main>
<h1>${escapeHtml(title)}</h1>
${body}
</main>
</body>
</html>
`
}

/**
 * GET /reset-password?token=…: a form that posts the token and the new password. Opening it
 * consumes nothing. `minlength` is the schema's floor; a higher PASSWORD_MIN_LENGTH is the
 * policy's to enforce, and the page that answers the post says so.
 */
export const resetPasswordForm = (token: string) => page('Choose a new password', `<form method="post" action="reset-password">
<input type="hidden" name="token" value="${escapeHtml(token)}">
<p><label for="password">New password</label><br>
<input id="password" name="password" type="password" autocomplete="new-password" required minlength="8" maxlength="1024"></p>
<p><button type="submit">Set the new password</button></p>
</form>`)

/** GET /verify?token=…: one button that posts the token. Opening it (a mail scanner does) verifies nothing. */
export const verifyForm = (token: string) => page('Confirm your e-mail address', `<form method="post" action="verify">
<input type="hidden" name="token" value="${escapeHtml(token)}">
<p><button type="submit">Confirm my e-mail address</button></p>
</form>`)

export const passwordChangedPage = () => page('Password changed',
  '<p>Your password was changed, and every session of your account was logged out. Log in with the new password.</p>')

export const emailVerifiedPage = (email: string | null) => page('E-mail address confirmed',
  `<p>${email === null ? 'Your e-mail address' : escapeHtml(email)} is confirmed. You can close this page.</p>`)

/** An error, as a page: the message when the client caused it, nothing more otherwise. */
export const errorPage = (title: string, message: string) => page(title, `<p>${escapeHtml(message)}</p>`)
