import { randomBytes } from 'node:crypto'
import formbody from '@fastify/formbody'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { InvalidGrantError, LoginLockedError, OverloadedError } from '../../src/errors.js'
import { requestCookies } from '../../src/http/cookie-transport.js'
import { HtmlPage } from '../../src/schemas/recovery.js'
import { AuthorizationPageError, REQUEST_TTL_MS, type AuthorizationStep } from '../../src/services/authorization.js'
import { authorizationErrorPage, loginPage, pageHeaders, secondFactorPage, stepPage, type PagePlace, type ScopeLine } from './authorize-pages.js'
import { perAddressLimit } from './token.js'

const Text = (maxLength: number, description: string) => Type.Optional(Type.String({ maxLength, description }))

/** GET /authorize's query (RFC 6749 §4.1.1, RFC 7636 §4.3); unknown parameters are ignored (§3.1). */
const AuthorizeQuery = Type.Object({
  response_type: Text(50, '`code`'),
  client_id: Text(200, 'a registered client'),
  redirect_uri: Text(2000, 'exactly as registered'),
  scope: Text(1000, 'space-separated scopes; default: all the client may ask for'),
  state: Text(2000, 'returned unchanged in the redirect (CSRF protection of the client)'),
  code_challenge: Text(128, 'BASE64URL(SHA-256(code_verifier)), 43 characters'),
  code_challenge_method: Text(10, '`S256` (required; `plain` is refused)')
}, { additionalProperties: true })

/** The login form; other fields are kept for login checks that read their own (a second factor's `otp`). */
const LoginForm = Type.Object({
  request: Type.String({ maxLength: 100 }),
  username: Type.String({ maxLength: 254 }),
  password: Type.String({ maxLength: 1024 })
}, { additionalProperties: true })

/** The second step's form: the password step's mfa_token and a TOTP or recovery code. */
const SecondFactorForm = Type.Object({
  request: Type.String({ maxLength: 100 }),
  mfa_token: Type.String({ maxLength: 256 }),
  code: Type.String({ maxLength: 64 })
}, { additionalProperties: false })

const ConsentForm = Type.Object({
  request: Type.String({ maxLength: 100 }),
  decision: Type.Union([Type.Literal('allow'), Type.Literal('deny')])
}, { additionalProperties: false })

/** The browser-binding cookie's name (RFC 6265bis §4.1.3: __Host- where the server is on https); social login reads it too. */
export const browserCookieName = (secure: boolean) => secure ? '__Host-authorize' : 'authorize'

/**
 * Where a step of the authorization endpoint leads, for the routes of `fastify`: a 303 to the
 * client, or the step's page (login, code, consent) with the pages' headers, its forms relative
 * to `root` (PagePlace: the routes' root as seen from the URL that answers).
 */
export function stepAnswer (fastify: FastifyInstance) {
  const definitions = fastify.authScopes.definitions
  const providers = fastify.authCore.social.providers()
  return (reply: FastifyReply, step: AuthorizationStep, root: PagePlace['root']) => {
    if (step.kind === 'redirect') return reply.header('cache-control', 'no-store').header('referrer-policy', 'no-referrer').redirect(step.location, 303)
    const html = stepPage(step, { root, providers, describe: name => definitions[name]?.description ?? '' })
    return reply.code(200).headers(pageHeaders(step.client.redirect_uris)).send(html)
  }
}

/** The browser-binding cookie's value: 256 random bits, base64url. */
const BROWSER_VALUE = /^[A-Za-z0-9_-]{43}$/

export interface AuthorizeRoutesOptions {
  /** POSTs per minute per client address (0: off) */
  rateLimit: number
}

/**
 * The authorization endpoint (RFC 6749 §3.1, §4.1) with PKCE (RFC 7636) and `iss` (RFC 9207):
 * - GET /authorize checks the request (src/services/authorization.ts), keeps it server-side under a
 *   random id, binds it to this browser with an HttpOnly SameSite=Lax cookie, and shows the login
 *   page; an unknown client or redirect URI is a page (400), never a redirect; other errors
 *   redirect to the client with `error`, `state` and `iss`;
 * - POST /authorize (the login form) verifies the password through the login pipeline, then
 *   redirects (303) with `code`, `state` and `iss`, or shows the consent page (clients that are not
 *   first-party), or for a user with TOTP the second-factor page;
 * - POST /authorize/mfa (that page's form) proves the password step's `mfa_token` with a TOTP or
 *   recovery code (src/services/mfa.ts), then goes on as after the password;
 * - POST /authorize/consent allows (a code) or denies (`access_denied`).
 * The POSTs are refused (403 page) without the browser's cookie, from another site (`Origin`,
 * `Sec-Fetch-Site`): login CSRF. Pages: no script, `frame-ancestors 'none'`, no-store.
 */
const authorize: FastifyPluginAsyncTypebox<AuthorizeRoutesOptions> = async (fastify, options) => {
  await fastify.register(formbody) // https://github.com/fastify/fastify-formbody
  const authorization = fastify.authCore.authorization
  const definitions = fastify.authScopes.definitions
  const cookies = fastify.authCookies
  const { secure, ownOrigin } = cookies.settings
  // RFC 6265bis §4.1.3: __Host- (Secure, Path=/, no Domain) where the server is on https.
  const cookieName = browserCookieName(secure)
  const rateLimit = perAddressLimit(options.rateLimit)
  const lines = (scopes: string[]): ScopeLine[] => scopes.map(name => ({ name, description: definitions[name]?.description ?? '' }))
  const page = (reply: FastifyReply, status: number, html: string, redirectUris?: readonly string[]) => reply.code(status).headers(pageHeaders(redirectUris)).send(html)

  /**
   * This browser's binding value: the cookie's, or a new one; set again with each request it
   * binds, so the cookie lives as long as the newest pending request (a request opened late in
   * an older cookie's life would otherwise fail as "another browser").
   */
  function browserOf (request: FastifyRequest, reply: FastifyReply): string {
    const existing = requestCookies(request)[cookieName]
    const value = existing !== undefined && BROWSER_VALUE.test(existing) ? existing : randomBytes(32).toString('base64url')
    reply.setCookie(cookieName, value, { httpOnly: true, secure, sameSite: 'lax', path: '/', maxAge: REQUEST_TTL_MS / 1000 })
    return value
  }

  /**
   * Login CSRF: a form posted from another site is refused before anything is read. Fetch
   * metadata decides when the browser sends it (`Sec-Fetch-Site: same-origin`): the pages'
   * `Referrer-Policy: no-referrer` makes Chromium send `Origin: null` with their own forms (found by
   * the Chromium test). Without it (older browsers, scripts), an `Origin`, when sent, must be ours.
   * @throws AuthorizationPageError (403)
   */
  function assertSameOrigin (request: FastifyRequest): void {
    const site = request.headers['sec-fetch-site']
    const origin = request.headers.origin
    const own = site !== undefined
      ? site === 'same-origin'
      : origin === undefined || origin === `${request.protocol}://${request.host}` || origin === ownOrigin
    if (!own) throw new AuthorizationPageError('This form was sent from another site. Go back to the application and start again.', 403)
  }

  /**
   * A refusal of a login step the user can act on: its status, message and headers (a lock's
   * Retry-After) for the page shown again. `wrong` is the one message for a wrong credential.
   * @throws the error itself when it is not such a refusal (a page error, a fault)
   */
  function refusalOf (request: FastifyRequest, error: unknown, wrong: string): { status: number, message: string, headers: Record<string, string> } {
    if (error instanceof AuthorizationPageError) throw error
    const status = (error as { statusCode?: number }).statusCode ?? 500
    if (status >= 500 && !(error instanceof OverloadedError)) throw error
    request.log.info({ event: 'authorize', outcome: 'refused', reason: (error as Error).name }, 'authorization login refused')
    const throttled = error instanceof LoginLockedError || error instanceof OverloadedError
    return {
      status: status >= 400 && status < 600 && status !== 401 ? status : 400,
      message: error instanceof InvalidGrantError ? wrong : throttled ? error.message : (error as Error).message,
      headers: throttled ? error.headers : {}
    }
  }

  const answer = stepAnswer(fastify)

  // Errors of these routes are pages: refusals that must not go back to the client, invalid input.
  fastify.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof AuthorizationPageError) return page(reply, error.statusCode, authorizationErrorPage(error.message))
    if (error.validation !== undefined || error.statusCode === 400 || error.statusCode === 415) {
      return page(reply, 400, authorizationErrorPage('The request is malformed: a parameter is missing, repeated or too long.'))
    }
    throw error
  })

  fastify.get('/authorize', {
    // Each request stores a pending request (10 minutes): limited per address like the POSTs.
    config: { rateLimit },
    schema: {
      tags: ['auth'],
      operationId: 'authorize',
      summary: 'Authorization endpoint: the login page (authorization code with PKCE)',
      description: 'RFC 6749 §4.1 with RFC 7636 PKCE (`code_challenge_method=S256` required) and RFC 9207 `iss`. Shows the login page; after it (and consent, for clients that are not first-party) redirects to `redirect_uri` with `code`, `state` and `iss`. An unknown client or a `redirect_uri` not registered exactly is shown as a page, never redirected.',
      produces: ['text/html'],
      querystring: AuthorizeQuery,
      response: { 200: HtmlPage('The login page'), 303: HtmlPage('An error sent back to the client (`error`, `state`, `iss`)'), 400: HtmlPage('An error that cannot go back to the client') }
    }
  }, async (request, reply) => {
    return answer(reply, await authorization.begin(request.query, browserOf(request, reply)), '')
  })

  fastify.post('/authorize', {
    config: { rateLimit },
    schema: {
      tags: ['auth'],
      operationId: 'authorizeLogin',
      summary: 'The login page\'s form',
      description: 'Posted by the login page of `GET /authorize` (same origin, with its cookie): the password, then a redirect to the client (303), or the consent page.',
      consumes: ['application/x-www-form-urlencoded'],
      produces: ['text/html'],
      body: LoginForm,
      response: { 200: HtmlPage('The consent page'), 303: HtmlPage('Back to the client with `code`, `state`, `iss`'), 400: HtmlPage('Refused: the login page again, with why'), 403: HtmlPage('Sent from another site or another browser') }
    }
  }, async (request, reply) => {
    assertSameOrigin(request)
    const body = request.body as Record<string, string | undefined> & { request: string, username: string, password: string }
    const browser = requestCookies(request)[cookieName]
    try {
      const step = await authorization.login(body.request, browser, {
        username: body.username,
        password: body.password,
        form: body,
        userAgent: request.headers['user-agent'],
        ip: request.ip
      })
      request.log.info({ event: 'authorize', outcome: step.kind }, 'authorization login')
      return answer(reply, step, '')
    } catch (error) {
      const refusal = refusalOf(request, error, 'Incorrect username or password.')
      const { client, scopes } = await authorization.describe(body.request, browser)
      return page(reply.headers(refusal.headers), refusal.status,
        loginPage({ root: '', requestId: body.request, clientId: client.client_id, scopes: lines(scopes), message: refusal.message, username: body.username, providers: fastify.authCore.social.providers() }), client.redirect_uris)
    }
  })

  fastify.post('/authorize/mfa', {
    config: { rateLimit },
    schema: {
      tags: ['auth'],
      operationId: 'authorizeSecondFactor',
      summary: 'The login page\'s second step (TOTP or a recovery code)',
      description: 'Posted by the second-factor page that `POST /authorize` shows to a user with TOTP: the code of the authenticator app (or a recovery code) with the password step\'s `mfa_token`, then a redirect to the client (303) or the consent page. Five wrong codes spend the `mfa_token`; each counts toward the account\'s lock.',
      consumes: ['application/x-www-form-urlencoded'],
      produces: ['text/html'],
      body: SecondFactorForm,
      response: { 200: HtmlPage('The consent page'), 303: HtmlPage('Back to the client with `code`, `state`, `iss`'), 400: HtmlPage('Refused: the code page again, with why'), 403: HtmlPage('Sent from another site or another browser') }
    }
  }, async (request, reply) => {
    assertSameOrigin(request)
    const { request: requestId, mfa_token: mfaToken, code } = request.body
    const browser = requestCookies(request)[cookieName]
    try {
      const step = await authorization.secondFactor(requestId, browser, { mfaToken, code, userAgent: request.headers['user-agent'], ip: request.ip })
      request.log.info({ event: 'authorize', outcome: step.kind }, 'authorization second factor')
      return answer(reply, step, '../')
    } catch (error) {
      const refusal = refusalOf(request, error, 'That code is not right, or this page has been used too often: try again, or go back to the application and start again.')
      const { client } = await authorization.describe(requestId, browser)
      return page(reply.headers(refusal.headers), refusal.status, secondFactorPage({ root: '../', requestId, clientId: client.client_id, mfaToken, message: refusal.message }), client.redirect_uris)
    }
  })

  fastify.post('/authorize/consent', {
    config: { rateLimit },
    schema: {
      tags: ['auth'],
      operationId: 'authorizeConsent',
      summary: 'The consent page\'s form',
      description: 'Allow: a redirect with `code`, `state`, `iss`; deny: a redirect with `error=access_denied`.',
      consumes: ['application/x-www-form-urlencoded'],
      produces: ['text/html'],
      body: ConsentForm,
      response: { 303: HtmlPage('Back to the client'), 400: HtmlPage('Refused'), 403: HtmlPage('Sent from another site or another browser') }
    }
  }, async (request, reply) => {
    assertSameOrigin(request)
    const step = await authorization.consent(request.body.request, requestCookies(request)[cookieName], request.body.decision === 'allow')
    request.log.info({ event: 'authorize', outcome: request.body.decision }, 'authorization consent')
    return answer(reply, step, '../')
  })
}

export default authorize
