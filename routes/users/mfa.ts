import type { FastifyRequest } from 'fastify'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { HttpError } from '../../src/schemas/common.js'
import { MfaCode, MfaStatus, RecoveryCodes, TotpEnrolment, TotpEnrolmentRequest } from '../../src/schemas/mfa.js'
import { currentUser } from '../../plugins/auth/current-user.js'

const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' }

/**
 * /users/me/mfa and below (scope `me`): two-factor authentication of your own account (issue 21;
 * CONTRACT.md "Two-factor authentication"). Enrolment needs the password; turning it off and new
 * recovery codes need a current code, so a stolen access token alone can do neither. Secrets and
 * codes are shown once, with `Cache-Control: no-store`. The logic is src/services/mfa.ts.
 */
const mfaRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const mfa = fastify.authCore.mfa
  const config = { scopes: ['me'] }
  const errors = {
    400: Type.Ref(HttpError, { description: 'Invalid input, or a wrong, used or expired code or password (counted toward the login lock)' }),
    404: Type.Ref(HttpError, { description: 'The store has no two-factor part' }),
    409: Type.Ref(HttpError, { description: 'Not in a state that allows this (e.g. TOTP already on, or not on)' }),
    429: Type.Ref(HttpError, { description: 'Too many wrong codes or passwords for this account (see Retry-After)' }),
    503: Type.Ref(HttpError, { description: 'TOTP unavailable: the server has no DATA_ENCRYPTION_KEY (production), or cannot read the secret' })
  }
  const context = (request: FastifyRequest) => ({
    ip: request.ip,
    user_agent: request.headers['user-agent'] ?? null,
    session_id: currentUser(request).session_id,
    client_id: currentUser(request).client_id
  })

  fastify.get('/users/me/mfa', {
    config,
    schema: { tags: ['mfa'], operationId: 'readMyMfa', summary: 'Your two-factor authentication: TOTP state and recovery codes left', response: { 200: MfaStatus, 404: errors[404] } }
  }, async (request) => mfa.status(currentUser(request).id))

  fastify.post('/users/me/mfa/totp', {
    config,
    schema: {
      tags: ['mfa'],
      operationId: 'startTotp',
      summary: 'Start TOTP enrolment: a new secret and its otpauth URI',
      description: 'Needs your password. Replaces an enrolment not yet confirmed; 409 when TOTP is on. Scan `otpauth_uri` (as a QR code) or type `secret` into an authenticator app, then confirm with a code.',
      body: TotpEnrolmentRequest,
      response: { 200: TotpEnrolment, ...errors }
    }
  }, async (request, reply) => {
    const enrolment = await mfa.startTotp(currentUser(request), request.body.password)
    request.log.info({ event: 'mfa-enrol', userId: currentUser(request).id }, 'TOTP enrolment started')
    return reply.headers(NO_STORE).send(enrolment)
  })

  fastify.post('/users/me/mfa/totp/confirm', {
    config,
    schema: {
      tags: ['mfa'],
      operationId: 'confirmTotp',
      summary: 'Confirm enrolment with a first code: TOTP on, 10 recovery codes',
      description: 'The code is spent: it is never accepted again. Ends every other session of yours. The recovery codes are shown this once.',
      body: MfaCode,
      response: { 200: RecoveryCodes, ...errors }
    }
  }, async (request, reply) => {
    const codes = await mfa.confirmTotp(currentUser(request).id, request.body.code, context(request))
    return reply.headers(NO_STORE).send(codes)
  })

  fastify.delete('/users/me/mfa/totp', {
    config,
    schema: {
      tags: ['mfa'],
      operationId: 'disableTotp',
      summary: 'Turn TOTP off (a current TOTP or recovery code)',
      description: 'Deletes the secret and the recovery codes and ends every other session of yours.',
      body: MfaCode,
      response: { 204: Type.Null({ description: 'TOTP is off' }), ...errors }
    }
  }, async (request, reply) => {
    await mfa.disableTotp(currentUser(request).id, request.body.code, context(request))
    return reply.code(204).send(null)
  })

  fastify.post('/users/me/mfa/recovery-codes', {
    config,
    schema: {
      tags: ['mfa'],
      operationId: 'regenerateRecoveryCodes',
      summary: 'New recovery codes (a current TOTP or recovery code): the old ones stop working',
      description: 'Ends every other session of yours. The codes are shown this once.',
      body: MfaCode,
      response: { 200: RecoveryCodes, ...errors }
    }
  }, async (request, reply) => {
    const codes = await mfa.regenerateRecoveryCodes(currentUser(request).id, request.body.code, context(request))
    return reply.headers(NO_STORE).send(codes)
  })
}

export default mfaRoutes
