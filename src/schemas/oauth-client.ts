import { Type, type Static } from '@sinclair/typebox'

/**
 * A redirect URI as a client registers it (RFC 6749 §3.1.2, RFC 9700 §4.1.3): absolute, no
 * fragment, no userinfo; `http` only for loopback hosts and custom schemes (`com.example.app:/cb`)
 * for native apps. Compared with a request's `redirect_uri` as exact strings, never normalised.
 */
export const RedirectUri = Type.String({
  minLength: 1,
  maxLength: 2000,
  // scheme ":" then anything without whitespace or '#'; the URL checks are in oauth-clients.ts
  pattern: '^[a-zA-Z][a-zA-Z0-9+.-]*:[^\\s#]+$',
  description: 'absolute URI, compared exactly (no fragment, no userinfo)',
  examples: ['https://app.example.com/callback']
})

/** `client_id`: printable ASCII without spaces (RFC 6749 §2.2 leaves the syntax open; this keeps it safe in URLs and logs). */
export const ClientId = Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9._~:-]+$', examples: ['my-app'] })

/**
 * A stored client secret: `sha256:<64 hex>` (what `clients add` writes: the secret is 256 random
 * bits, so a fast hash suffices) or an argon2id PHC string (for secrets chosen by people).
 */
export const ClientSecretHash = Type.String({ pattern: '^(sha256:[0-9a-f]{64}|\\$argon2id\\$\\S+)$', maxLength: 300, description: 'sha256:<64 hex digits> or an argon2id hash ($argon2id$…), never the secret itself' })

/**
 * One registered client of the authorization-code flow (an entry of OAUTH_CLIENTS_FILE):
 * confidential with `client_secret_hash`, or `public: true` (PKCE only). `scopes` bounds what it
 * may request (default: every scope); `first_party` skips the consent page.
 */
export const OAuthClientConfig = Type.Object({
  client_id: ClientId,
  client_secret_hash: Type.Optional(ClientSecretHash),
  public: Type.Optional(Type.Boolean()),
  redirect_uris: Type.Array(RedirectUri, { minItems: 1, maxItems: 20 }),
  scopes: Type.Optional(Type.Array(Type.String({ pattern: '^[\\x21\\x23-\\x5B\\x5D-\\x7E]+$', maxLength: 100 }), { maxItems: 100 })),
  first_party: Type.Optional(Type.Boolean())
}, { additionalProperties: false })
export type OAuthClientConfig = Static<typeof OAuthClientConfig>
