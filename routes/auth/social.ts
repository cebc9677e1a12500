import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyError, FastifyReply } from 'fastify'
import { DomainError, InvalidGrantError, SocialLoginError } from '../../src/errors.js'
import { requestCookies } from '../../src/http/cookie-transport.js'
import { HtmlPage } from '../../src/schemas/recovery.js'
import { AuthorizationPageError } from '../../src/services/authorization.js'
import { authorizationErrorPage, pageHeaders } from './authorize-pages.js'
import { browserCookieName, stepAnswer } from './authorize.js'
import { perAddressLimit } from './token.js'

const ProviderParams = Type.Object({ provider: Type.String({ maxLength: 40, description: 'the provider\'s id in OIDC_PROVIDERS_FILE' }) })
const StartQuery = Type.Object({ request: Type.String({ maxLength: 100, description: 'the pending authorization request (the login page\'s)' }) }, { additionalProperties: true })
/** The provider's answer (RFC 6749 §4.1.2, RFC 9207): read whole by oauth4webapi; bounded here. */
const CallbackQuery = Type.Object({
  code: Type.Optional(Type.String({ maxLength: 2000 })),
  state: Type.Optional(Type.String({ maxLength: 200 })),
  iss: Type.Optional(Type.String({ maxLength: 2000 })),
  error: Type.Optional(Type.String({ maxLength: 200 })),
  error_description: Type.Optional(Type.String({ maxLength: 2000 }))
}, { additionalProperties: true })

export interface SocialRoutesOptions {
  /** requests per minute per client address (0: off) */
  rateLimit: number
}

/**
 * Social login (issue 23; rules in src/services/social-login.ts, providers in src/social):
 * - GET /login/{provider}?request=… (the login page's link): 303 to the provider with state,
 *   nonce and PKCE kept server-side, bound to this browser's /authorize cookie;
 * - GET /login/{provider}/callback (the redirect URI registered at the provider): the state taken,
 *   the answer validated, the account found, linked or created, then the pending authorization
 *   request completed: 303 to the client with `code`, `state`, `iss`, or its consent page.
 * Neither reads a URL from its query: every refusal is a page (never a redirect), with the
 * authorization pages' headers.
 */
const social: FastifyPluginAsyncTypebox<SocialRoutesOptions> = async (fastify, options) => {
  const social = fastify.authCore.social
  const cookieName = browserCookieName(fastify.authCookies.settings.secure)
  const rateLimit = perAddressLimit(options.rateLimit)
  const page = (reply: FastifyReply, status: number, html: string, redirectUris?: readonly string[]) => reply.code(status).headers(pageHeaders(redirectUris)).send(html)

  // Pages answered at /login/{id}/callback: the routes' root is two levels up.
  const answer = stepAnswer(fastify)

  fastify.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof AuthorizationPageError || error instanceof SocialLoginError) {
      request.log.info({ event: 'social-login', outcome: 'refused', reason: error.message }, 'social login refused')
      return page(reply, error.statusCode, authorizationErrorPage(error.message))
    }
    // A login check's refusal (disabled, REQUIRE_VERIFIED_EMAIL, …): a page, in the check's words but for a disabled account.
    if (error instanceof DomainError && error.statusCode < 500) {
      const message = error instanceof InvalidGrantError ? 'This account cannot log in.' : error.message
      return page(reply, error.statusCode === 401 ? 403 : error.statusCode, authorizationErrorPage(message))
    }
    if (error.validation !== undefined || error.statusCode === 400) {
      return page(reply, 400, authorizationErrorPage('The request is malformed: a parameter is missing, repeated or too long.'))
    }
    throw error
  })

  fastify.get('/login/:provider', {
    config: { rateLimit },
    schema: {
      tags: ['auth'],
      operationId: 'socialLoginStart',
      summary: 'Log in with a provider (the login page\'s link)',
      description: 'Social login: for the pending authorization request `request` (opened by this browser), redirects (303) to the provider with `state`, `nonce` and PKCE S256, kept server-side for 10 minutes, single use.',
      produces: ['text/html'],
      params: ProviderParams,
      querystring: StartQuery,
      response: { 303: HtmlPage('To the provider'), 400: HtmlPage('The pending request is gone or malformed'), 403: HtmlPage('Another browser'), 404: HtmlPage('Unknown provider'), 502: HtmlPage('The provider cannot be reached') }
    }
  }, async (request, reply) => {
    const location = await social.begin(request.params.provider, request.query.request, requestCookies(request)[cookieName])
    return reply.header('cache-control', 'no-store').header('referrer-policy', 'no-referrer').redirect(location.href, 303)
  })

  fastify.get('/login/:provider/callback', {
    config: { rateLimit },
    schema: {
      tags: ['auth'],
      operationId: 'socialLoginCallback',
      summary: 'The provider\'s redirect back (register `<PUBLIC_URL>/login/{provider}/callback` there)',
      description: 'Checks and spends the state (unknown, used or expired: 400; another browser: 403), exchanges the code with PKCE, validates the ID token (signature, `iss`, `aud`, `exp`, `nonce`), then logs in the linked account, links the account with the same e-mail only when both sides verified it, or creates a user without a password; then completes the authorization request (303 to the client, or its consent page).',
      produces: ['text/html'],
      params: ProviderParams,
      querystring: CallbackQuery,
      response: { 200: HtmlPage('The consent page'), 303: HtmlPage('Back to the client with `code`, `state`, `iss`'), 400: HtmlPage('Refused'), 403: HtmlPage('Another browser, a disabled account, two-factor authentication on'), 404: HtmlPage('Unknown provider'), 409: HtmlPage('An account with that e-mail exists and cannot be linked'), 502: HtmlPage('The provider failed') }
    }
  }, async (request, reply) => {
    // The query exactly as sent (oauth4webapi reads every parameter, RFC 9207's `iss` included).
    const raw = request.raw.url ?? ''
    const parameters = new URLSearchParams(raw.includes('?') ? raw.slice(raw.indexOf('?') + 1) : '')
    const step = await social.callback(request.params.provider, parameters, requestCookies(request)[cookieName], { userAgent: request.headers['user-agent'], ip: request.ip })
    request.log.info({ event: 'social-login', provider: request.params.provider, outcome: step.kind }, 'social login')
    return answer(reply, step, '../../')
  })
}

export default social
