import type { AuthorizationStep } from '../../src/services/authorization.js'
import { escapeHtml, page, PAGE_HEADERS } from './recovery-pages.js'

/*
 * The pages of the authorization endpoint (GET and POST /authorize): the recovery pages' shell
 * (no script, no style, nothing inline), their headers, and a CSP whose `form-action` also names
 * where the form's answer redirects (the client's redirect URI): browsers apply `form-action` to
 * the redirect that follows a form's submission. Forms post to relative URLs, so the pages work
 * under a prefix (PagePlace).
 */

/** A scope as the consent page lists it. */
export interface ScopeLine { name: string, description: string }

/** The CSP source of a redirect URI: its origin (http, https) or its scheme (a native app's `com.example.app:`). */
function sourceOf (redirectUri: string): string {
  const url = new URL(redirectUri)
  return url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : url.protocol
}

/** Headers of a page whose form may end in a redirect to one of `redirectUris` (none: only 'self'); never framed (frame-ancestors 'none'). */
export function pageHeaders (redirectUris: readonly string[] = []): Record<string, string> {
  const formAction = ["'self'", ...new Set(redirectUris.map(sourceOf))].join(' ')
  return { ...PAGE_HEADERS, 'content-security-policy': `default-src 'none'; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'` }
}

const scopeList = (scopes: ScopeLine[]) => scopes.length === 0
  ? ''
  : `<ul>\n${scopes.map(s => `<li><strong>${escapeHtml(s.name)}</strong>: ${escapeHtml(s.description)}</li>`).join('\n')}\n</ul>`

/**
 * Where a page is served: the routes' root relative to the page's own URL (`` from /authorize,
 * `../` from /authorize/mfa, `../../` from /login/{id}/callback). Forms and links are relative to
 * it, so the pages work under a prefix and behind a proxy's path.
 */
export interface PagePlace { root: '' | '../' | '../../' }

const alert = (message: string | undefined) => message === undefined ? '' : `<p role="alert"><strong>${escapeHtml(message)}</strong></p>\n`

/**
 * The login page of GET /authorize: username (or e-mail) and password, posted with the pending
 * request's id, and one link per social provider. `message` is the last attempt's refusal.
 */
export function loginPage (input: PagePlace & { requestId: string, clientId: string, scopes: ScopeLine[], message?: string, username?: string, providers?: ReadonlyArray<{ id: string, name: string }> }): string {
  return page(`Log in to continue to ${input.clientId}`, `${alert(input.message)}<p>The application <strong>${escapeHtml(input.clientId)}</strong> asks to use your account.</p>
${scopeList(input.scopes)}
<form method="post" action="${input.root}authorize">
<input type="hidden" name="request" value="${escapeHtml(input.requestId)}">
<p><label for="username">Username or e-mail</label><br>
<input id="username" name="username" autocomplete="username" required maxlength="254" value="${escapeHtml(input.username ?? '')}"></p>
<p><label for="password">Password</label><br>
<input id="password" name="password" type="password" autocomplete="current-password" required maxlength="1024"></p>
<p><button type="submit">Log in</button></p>
</form>${socialButtons(input.root, input.requestId, input.providers ?? [])}`)
}

/** One plain link per social provider (no script): GET login/{id}?request=…. */
const socialButtons = (root: string, requestId: string, providers: ReadonlyArray<{ id: string, name: string }>) => providers.length === 0
  ? ''
  : `\n<p>Or:</p>\n<ul>\n${providers.map(p => `<li><a href="${root}login/${encodeURIComponent(p.id)}?request=${encodeURIComponent(requestId)}">Log in with ${escapeHtml(p.name)}</a></li>`).join('\n')}\n</ul>`

/**
 * The second step of the login page for a user with TOTP: the code of the authenticator app, or
 * one recovery code, posted with the pending request's id and the first step's `mfa_token`.
 * `message` is the last attempt's refusal.
 */
export function secondFactorPage (input: PagePlace & { requestId: string, clientId: string, mfaToken: string, message?: string }): string {
  return page('Enter your authentication code', `${alert(input.message)}<p>Your account has two-factor authentication. Enter the 6-digit code of your authenticator app to continue to <strong>${escapeHtml(input.clientId)}</strong>, or one of your recovery codes.</p>
<form method="post" action="${input.root}authorize/mfa">
<input type="hidden" name="request" value="${escapeHtml(input.requestId)}">
<input type="hidden" name="mfa_token" value="${escapeHtml(input.mfaToken)}">
<p><label for="code">Code</label><br>
<input id="code" name="code" autocomplete="one-time-code" required maxlength="64" autofocus></p>
<p><button type="submit">Continue</button></p>
</form>`)
}

/** The consent page: the client and the scopes it asks for, allow or deny. */
export function consentPage (input: PagePlace & { requestId: string, clientId: string, scopes: ScopeLine[] }): string {
  return page(`Allow ${input.clientId} to use your account?`, `<p>The application <strong>${escapeHtml(input.clientId)}</strong> asks for:</p>
${scopeList(input.scopes)}
<form method="post" action="${input.root}authorize/consent">
<input type="hidden" name="request" value="${escapeHtml(input.requestId)}">
<p><button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button></p>
</form>`)
}

/**
 * The page of a step that is not a redirect (src/services/authorization.ts AuthorizationStep):
 * the login page, the code page or the consent page. `describe` names a scope.
 */
export function stepPage (step: Exclude<AuthorizationStep, { kind: 'redirect' }>, place: PagePlace & { describe: (scope: string) => string, providers: ReadonlyArray<{ id: string, name: string }> }): string {
  const base = { ...place, requestId: step.requestId, clientId: step.client.client_id }
  if (step.kind === 'second_factor') return secondFactorPage({ ...base, mfaToken: step.mfaToken })
  const scopes = step.scopes.map(name => ({ name, description: place.describe(name) }))
  return step.kind === 'login' ? loginPage({ ...base, scopes, providers: place.providers }) : consentPage({ ...base, scopes })
}

/** An error that is not sent back to the application (RFC 6749 §4.1.2.1): shown here, with what to do. */
export const authorizationErrorPage = (message: string) => page('This login cannot continue', `<p>${escapeHtml(message)}</p>`)
