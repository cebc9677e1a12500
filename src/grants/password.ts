import { InvalidRequestError } from '../errors.js'
import { Param } from '../schemas/token.js'
import type { LoginPipeline } from '../services/login.js'
import type { ClientRegistry } from '../services/oauth-clients.js'
import { admitClient } from './client-rules.js'
import type { Grant } from './registry.js'

/**
 * grant_type=password (RFC 6749 §4.3), as FastAPI's OAuth2PasswordRequestForm sends it: the
 * whole login pipeline. Kept for first-party clients and /docs (SECURITY.md decision 1): a
 * registered third-party client is refused, a confidential one must authenticate (admitClient).
 */
export function passwordGrant (login: LoginPipeline, clients: ClientRegistry): Grant {
  return {
    type: 'password',
    parameters: {
      username: Param(254, 'username or e-mail (password grant)', ['johndoe']),
      password: Param(1024, 'password (password grant)', ['correct horse battery staple']),
      scope: Param(256, 'space-separated scopes; default: all the user may have', ['me items']),
      // Issue 21: for an account with TOTP on, the code in the same request gives the tokens at once.
      otp: Param(16, 'the 6-digit code of your authenticator app, for an account with two-factor authentication: with username and password (password grant) or with mfa_token (mfa-otp grant)', [''])
    },
    async handle ({ form, clientId, clientAuthenticated, userAgent, ip }) {
      if (!form.username || !form.password) throw new InvalidRequestError('username and password are required')
      await admitClient(clients, clientId, clientAuthenticated, { passwords: true })
      const { tokens, user, session } = await login.passwordLogin({ username: form.username, password: form.password, scope: form.scope, clientId, userAgent, ip, form })
      return { tokens, userId: user.id, sessionExpiresAt: session.expires_at }
    }
  }
}
