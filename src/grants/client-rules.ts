import { InvalidClientError, UnauthorizedClientError } from '../errors.js'
import type { ClientRegistry } from '../services/oauth-clients.js'

/**
 * Holds the client a password or refresh grant names to its registration. A client_id that no
 * registration knows is a label (FastAPI's form and Swagger UI send one; it names the tokens'
 * `client_id`) and passes. A registered confidential client must have authenticated (RFC 6749
 * §3.2.1: its secret, else tokens would carry its name for anyone); `passwords: true` (the password
 * grant) refuses a client that is not first-party: third-party clients never see a user's
 * password (RFC 9700 §2.4, OAuth 2.1), they use /authorize.
 * @throws InvalidClientError (401), UnauthorizedClientError (400 unauthorized_client)
 */
export async function admitClient (clients: ClientRegistry, clientId: string | undefined, authenticated: boolean | undefined, rules: { passwords: boolean }): Promise<void> {
  if (clientId === undefined) return
  const client = await clients.find(clientId)
  if (client === undefined) return
  if (client.confidential && authenticated !== true) throw new InvalidClientError()
  if (rules.passwords && !client.first_party) throw new UnauthorizedClientError()
}
