import { Type } from '@sinclair/typebox'
import { InvalidRequestError } from '../errors.js'
import { Param } from '../schemas/token.js'
import type { LoginPipeline } from '../services/login.js'
import type { MfaService } from '../services/mfa.js'
import type { ClientRegistry } from '../services/oauth-clients.js'
import { admitClient } from './client-rules.js'
import type { Grant, GrantRequest } from './registry.js'

/** What the two-factor grants use. */
export interface MfaGrantDeps { login: LoginPipeline, mfa: MfaService, clients: ClientRegistry }

/** Auth0's grant types for the password grant's second step (its names: clients written for Auth0 work unchanged). */
export const MFA_OTP_GRANT = 'http://auth0.com/oauth/grant-type/mfa-otp'
export const MFA_RECOVERY_CODE_GRANT = 'http://auth0.com/oauth/grant-type/mfa-recovery-code'

const mfaToken = Type.Optional(Type.String({ maxLength: 256, description: 'the `mfa_token` of the password grant\'s 403 mfa_required (two-factor grants)', examples: [''] }))

/** Both grants: prove the challenge with the code, then the login's last steps with amr ["pwd","otp"]. */
function mfaGrant (type: string, codeParameter: 'otp' | 'recovery_code', deps: MfaGrantDeps, parameters: Grant['parameters']): Grant {
  const { login, mfa, clients } = deps
  return {
    type,
    parameters,
    async handle ({ form, clientId, clientAuthenticated, userAgent, ip }: GrantRequest) {
      const code = form[codeParameter]
      if (!form.mfa_token || !code) throw new InvalidRequestError(`mfa_token and ${codeParameter} are required`)
      // The password grant's second step: its client rules too (an mfa_token of /authorize's code
      // page is no way for a third-party client, or a confidential one without its secret, to skip consent).
      await admitClient(clients, clientId, clientAuthenticated, { passwords: true })
      const context = { client_id: clientId ?? null, user_agent: userAgent ?? null, ip: ip ?? null }
      const proven = await mfa.proveChallenge({ mfaToken: form.mfa_token, code, kind: codeParameter, clientId, scope: form.scope, context })
      const { tokens, user } = await login.finishSecondFactor({ ...proven, userAgent, ip, method: codeParameter === 'otp' ? 'mfa-otp' : 'mfa-recovery-code' })
      return { tokens, userId: user.id }
    }
  }
}

/**
 * grant_type=http://auth0.com/oauth/grant-type/mfa-otp: `mfa_token` and `otp` (a TOTP code).
 * Wrong, used or expired code or token: invalid_grant, one message for all (src/services/mfa.ts).
 */
export const mfaOtpGrant = (deps: MfaGrantDeps): Grant => mfaGrant(MFA_OTP_GRANT, 'otp', deps, {
  mfa_token: mfaToken,
  otp: Param(16, 'the 6-digit code of your authenticator app (mfa-otp grant)', [''])
})

/** grant_type=http://auth0.com/oauth/grant-type/mfa-recovery-code: `mfa_token` and `recovery_code` (single use). */
export const mfaRecoveryCodeGrant = (deps: MfaGrantDeps): Grant => mfaGrant(MFA_RECOVERY_CODE_GRANT, 'recovery_code', deps, {
  mfa_token: mfaToken,
  recovery_code: Param(64, 'one of your recovery codes (mfa-recovery-code grant); each works once', [''])
})
