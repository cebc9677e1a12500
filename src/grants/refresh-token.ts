import { Type } from '@sinclair/typebox'
import { InvalidRequestError } from '../errors.js'
import type { LoginPipeline } from '../services/login.js'
import type { ClientRegistry } from '../services/oauth-clients.js'
import { admitClient } from './client-rules.js'
import type { Grant } from './registry.js'

/** grant_type=refresh_token (RFC 6749 §6): rotation with reuse detection, then new tokens of the session. */
export function refreshTokenGrant (login: LoginPipeline, clients: ClientRegistry): Grant {
  return {
    type: 'refresh_token',
    parameters: {
      // No length bound of its own: any value that is not a live refresh token is invalid_grant (the body limit bounds it).
      refresh_token: Type.Optional(Type.String({ description: 'refresh token (refresh_token grant)', examples: [''] }))
    },
    async handle ({ form, clientId, clientAuthenticated, userAgent, ip }) {
      if (!form.refresh_token) throw new InvalidRequestError('refresh_token is required')
      // RFC 6749 §6: a confidential client authenticates to refresh too. The client held to that is
      // the session's (the token's own), so leaving client_id out does not skip it.
      const admit = (sessionClientId: string) => admitClient(clients, sessionClientId, clientAuthenticated === true && clientId === sessionClientId, { passwords: false })
      const { tokens, user, session } = await login.refresh({ refreshToken: form.refresh_token, scope: form.scope, clientId, userAgent, ip, admitClient: admit })
      return { tokens, userId: user.id, sessionExpiresAt: session.expires_at }
    }
  }
}
