import { InvalidClientError, InvalidRequestError } from '../errors.js'
import { Param } from '../schemas/token.js'
import type { AuthorizationService } from '../services/authorization.js'
import type { ClientRegistry } from '../services/oauth-clients.js'
import type { Grant } from './registry.js'

/**
 * grant_type=authorization_code (RFC 6749 §4.1.3) with PKCE (RFC 7636 §4.5): `code`,
 * `redirect_uri`, `client_id` and `code_verifier`; a confidential client authenticates as well
 * (HTTP Basic or `client_secret`, checked by the token endpoint: `clientAuthenticated`).
 * @throws InvalidClientError (401) for an unknown client or a confidential one unauthenticated;
 * InvalidRequestError, InvalidGrantError (one message for every bad code), InvalidScopeError
 */
export function authorizationCodeGrant (authorization: AuthorizationService, clients: ClientRegistry): Grant {
  return {
    type: 'authorization_code',
    parameters: {
      code: Param(200, 'the authorization code (authorization_code grant)', ['']),
      redirect_uri: Param(2000, 'the redirect_uri of the authorization request (authorization_code grant)', ['']),
      code_verifier: Param(128, 'the PKCE verifier (RFC 7636; authorization_code grant)', [''])
    },
    async handle ({ form, clientId, clientAuthenticated, userAgent, ip }) {
      if (clientId === undefined) throw new InvalidRequestError('client_id is required')
      const client = await clients.find(clientId)
      if (client === undefined) throw new InvalidClientError()
      if (client.confidential && clientAuthenticated !== true) throw new InvalidClientError()
      const { tokens, user, session } = await authorization.redeem({ code: form.code, redirectUri: form.redirect_uri, verifier: form.code_verifier, client, userAgent, ip })
      return { tokens, userId: user.id, sessionExpiresAt: session.expires_at }
    }
  }
}
