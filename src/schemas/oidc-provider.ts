import { Type, type Static } from '@sinclair/typebox'

const Url = (description: string) => Type.Optional(Type.String({ minLength: 1, maxLength: 2000, pattern: '^https?://\\S+$', description }))

/**
 * One upstream provider of social login (an entry of OIDC_PROVIDERS_FILE):
 * - a generic OpenID Connect provider: `{id, name, issuer, client_id, client_secret}`, its
 *   endpoints discovered from `<issuer>/.well-known/openid-configuration` (OIDC Discovery 1.0);
 * - the GitHub preset: `{id: "github", client_id, client_secret}` (OAuth 2.0, not OIDC: the
 *   user from its REST API), whose base URLs `authorization_endpoint`, `token_endpoint` and
 *   `api_base` may be overridden (a test's mock; GitHub Enterprise Server).
 * The redirect URI to register at the provider is `<PUBLIC_URL>/login/<id>/callback`.
 */
export const OidcProviderConfig = Type.Object({
  id: Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,39}$', description: 'lower-case letters, digits, "_" and "-" (1 to 40), e.g. google; "github" is the GitHub preset' }),
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'the button\'s label: "Log in with <name>" (required but for github)' })),
  issuer: Url('the issuer URL, e.g. https://accounts.google.com (required but for github)'),
  client_id: Type.String({ minLength: 1, maxLength: 500 }),
  client_secret: Type.String({ minLength: 1, maxLength: 2000 }),
  authorization_endpoint: Url('github only: default https://github.com/login/oauth/authorize'),
  token_endpoint: Url('github only: default https://github.com/login/oauth/access_token'),
  api_base: Url('github only: default https://api.github.com')
}, { additionalProperties: false })
export type OidcProviderConfig = Static<typeof OidcProviderConfig>
