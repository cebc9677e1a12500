import formbody from '@fastify/formbody'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type, type Static } from '@sinclair/typebox'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { PolicyError } from '../../src/errors.js'
import { requestContext } from '../../src/http/event-context.js'
import { HttpError } from '../../src/schemas/common.js'
import { Accepted, EmailRequest, HtmlPage, ResetPasswordRequest, TokenQuery, VerifyRequest } from '../../src/schemas/recovery.js'
import { UserPublic } from '../../src/schemas/user.js'
import { InvalidEmailTokenError } from '../../src/services/recovery.js'
import { emailVerifiedPage, errorPage, PAGE_HEADERS, passwordChangedPage, resetPasswordForm, verifyForm } from './recovery-pages.js'

export interface RecoveryRoutesOptions {
  /** requests per minute per client address on every route here (0: off; needs @fastify/rate-limit) */
  rateLimit: number
}

const FORM = 'application/x-www-form-urlencoded'
const perAddressLimit = (max: number) => max > 0 ? { max, timeWindow: '1 minute' } : false as const
const tooMany = { 429: Type.Ref(HttpError, { description: 'Too many requests (see Retry-After)' }) }

/** A form posted by the pages (a browser), rather than JSON from a client. */
const isForm = (request: FastifyRequest) => (request.headers['content-type'] ?? '').toLowerCase().startsWith(FORM)

/** The request as Fastify logs it, without the token of a link's query string (ASVS 16.2.5). */
const withoutToken = (request: FastifyRequest) => ({
  method: request.method,
  url: request.url.replace(/([?&]token=)[^&#]*/gi, '$1[redacted]'),
  host: request.host,
  remoteAddress: request.ip,
  remotePort: request.socket?.remotePort
})

/**
 * POST /forgot-password and POST /request-verify-token (fastapi-users' paths and bodies): JSON
 * only, 202 `{}` for every address. They queue one row, the same for every address; the mail
 * worker looks the address up at its next poll: neither the answer nor its time tells.
 * What is limited per account is mail actually sent: one of each kind per cooldown (the store),
 * so no stranger's requests for one kind hold back the other, or use up the owner's; the limit
 * per client address counts every address alike.
 */
const requestRoutes: FastifyPluginAsyncTypebox<RecoveryRoutesOptions> = async (fastify, options) => {
  const recovery = fastify.authRecovery
  const limits = { config: { rateLimit: perAddressLimit(options.rateLimit) } }
  const errors = { 400: Type.Ref(HttpError, { description: 'Not an e-mail address' }), ...tooMany }

  fastify.post('/forgot-password', {
    ...limits,
    schema: {
      tags: ['auth'],
      operationId: 'forgotPassword',
      summary: 'Ask for a password reset e-mail',
      description: 'Sends a link to `GET /reset-password?token=…` to the account with this address, if there is one. ' +
        'The answer is the same, in the same time, for every address. The link works once, for 60 minutes; a newer one replaces it.',
      body: EmailRequest,
      response: { 202: Accepted, ...errors }
    }
  }, async (request, reply) => {
    await recovery.requestPasswordReset(request.body.email)
    return reply.code(202).send({})
  })

  fastify.post('/request-verify-token', {
    ...limits,
    schema: {
      tags: ['auth'],
      operationId: 'requestVerifyToken',
      summary: 'Ask for a new verification e-mail',
      description: 'Sends a link to `GET /verify?token=…` to the account with this address if it is not verified yet. ' +
        'The answer is the same, in the same time, for every address. The link works once, for 48 hours; a newer one replaces it.',
      body: EmailRequest,
      response: { 202: Accepted, ...errors }
    }
  }, async (request, reply) => {
    await recovery.requestVerification(request.body.email)
    return reply.code(202).send({})
  })
}

/**
 * The links' pages (GET) and where their tokens are used (POST, as JSON from a client or as a
 * form from the pages, which then get a page back). Opening a link consumes nothing, so a mail
 * scanner that follows it cannot use it up. Only these routes read forms.
 */
const tokenRoutes: FastifyPluginAsyncTypebox<RecoveryRoutesOptions> = async (fastify, options) => {
  const recovery = fastify.authRecovery
  await fastify.register(formbody) // https://github.com/fastify/fastify-formbody
  const config = { rateLimit: perAddressLimit(options.rateLimit) }
  const page = (reply: FastifyReply, status: number, html: string) => reply.code(status).headers(PAGE_HEADERS).send(html)
  /** The refusals a person can fix, as a page for a browser; anything else goes on to the app's error handler. */
  const refusalPage = (error: unknown) => error instanceof InvalidEmailTokenError
    ? errorPage('This link does not work', `${error.message}. Ask for a new e-mail.`)
    : error instanceof PolicyError ? errorPage('Choose another password', `${error.message}. Go back and try another one.`) : undefined

  // Invalid input on a page or a form: a page too. Everything else as the app renders errors.
  fastify.setErrorHandler((error: FastifyError, request, reply) => {
    if (error.validation === undefined || (request.method !== 'GET' && !isForm(request))) throw error
    return page(reply, 400, errorPage('This link or form is incomplete', error.message))
  })

  /**
   * GET of the page an e-mail links to: the page with the token's form while the token is live,
   * else the refusal page (400). Only looks the token up; opening a link consumes nothing.
   */
  function linkPage (url: string, purpose: 'reset' | 'verify', doc: { operationId: string, summary: string, description: string, okDescription: string, render: (token: string) => string }) {
    fastify.get(url, {
      logSerializers: { req: withoutToken },
      schema: {
        tags: ['auth'],
        operationId: doc.operationId,
        summary: doc.summary,
        description: doc.description,
        produces: ['text/html'],
        querystring: TokenQuery,
        response: { 200: HtmlPage(doc.okDescription), 400: HtmlPage('The token is invalid, used, replaced or expired') }
      }
    }, async (request, reply) => {
      const { token } = request.query as Static<typeof TokenQuery>
      if (!await recovery.isLive(token, purpose)) return page(reply, 400, refusalPage(new InvalidEmailTokenError())!)
      return page(reply, 200, doc.render(token))
    })
  }

  linkPage('/reset-password', 'reset', {
    operationId: 'resetPasswordPage',
    summary: 'The page the reset e-mail links to',
    description: 'A form that posts the new password to `POST /reset-password`. Opening it consumes nothing.',
    okDescription: 'The form',
    render: resetPasswordForm
  })

  fastify.post('/reset-password', {
    config,
    schema: {
      tags: ['auth'],
      operationId: 'resetPassword',
      summary: 'Set a new password with the token of a reset e-mail',
      description: 'The password policy applies. Ends every session of the user. The token works once; a bad, used, replaced or ' +
        'expired one is refused with 400. A form post (from the page) is answered with a page.',
      consumes: ['application/json', FORM],
      body: ResetPasswordRequest,
      response: {
        204: Type.Null({ description: 'Password changed; every session of the user ended' }),
        200: HtmlPage('Password changed (a form post)'),
        400: Type.Ref(HttpError, { description: 'Invalid, used or expired token, or a password the policy refuses' }),
        ...tooMany
      }
    }
  }, async (request, reply) => {
    let user
    try {
      user = await recovery.resetPassword(request.body.token, request.body.password, requestContext(request))
    } catch (error) {
      request.log.info({ event: 'password-reset', outcome: 'failure', reason: error instanceof Error ? error.name : 'unknown' }, 'password reset refused')
      const html = isForm(request) ? refusalPage(error) : undefined
      if (html === undefined) throw error
      return page(reply, 400, html)
    }
    request.log.info({ event: 'password-reset', outcome: 'success', userId: user.id }, 'password reset: every session ended')
    return isForm(request) ? page(reply, 200, passwordChangedPage()) : reply.code(204).send(null)
  })

  linkPage('/verify', 'verify', {
    operationId: 'verifyPage',
    summary: 'The page the verification e-mail links to',
    description: 'One button that posts the token to `POST /verify`. Opening it consumes nothing.',
    okDescription: 'The button',
    render: verifyForm
  })

  fastify.post('/verify', {
    config,
    schema: {
      tags: ['auth'],
      operationId: 'verify',
      summary: 'Confirm an e-mail address with the token of a verification e-mail',
      description: 'Marks the address the token was sent to verified (`email_verified`). The token works once; a bad, used, ' +
        'replaced or expired one (48 hours) is refused with 400. A form post (from the page) is answered with a page.',
      consumes: ['application/json', FORM],
      body: VerifyRequest,
      response: {
        200: {
          description: 'The user, now verified (JSON); a page for a form post',
          content: { 'application/json': { schema: Type.Ref(UserPublic) }, 'text/html': { schema: Type.String() } }
        },
        400: Type.Ref(HttpError, { description: 'Invalid, used or expired token' }),
        ...tooMany
      }
    }
  }, async (request, reply) => {
    let user
    try {
      user = await recovery.verifyEmail(request.body.token, requestContext(request))
    } catch (error) {
      request.log.info({ event: 'email-verification', outcome: 'failure' }, 'e-mail verification refused')
      const html = isForm(request) ? refusalPage(error) : undefined
      if (html === undefined) throw error
      return page(reply, 400, html)
    }
    request.log.info({ event: 'email-verification', outcome: 'success', userId: user.id }, 'e-mail address verified')
    return isForm(request) ? page(reply, 200, emailVerifiedPage(user.email)) : reply.send(user)
  })
}

/**
 * Account recovery and e-mail verification: the routes of fastapi-users' reset and verify
 * routers, and the two pages their e-mails link to. Needs the mail plugin (plugins/mail.ts).
 */
const recoveryRoutes: FastifyPluginAsyncTypebox<RecoveryRoutesOptions> = async (fastify, options) => {
  // The links in e-mails point where these routes are served, under any prefix.
  fastify.authRecovery.linksAt(fastify.prefix)
  await fastify.register(requestRoutes, options)
  await fastify.register(tokenRoutes, options)
}

export default recoveryRoutes
