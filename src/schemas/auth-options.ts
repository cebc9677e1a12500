import { availableParallelism } from 'node:os'
import { Type, type Static } from '@sinclair/typebox'
import { OAuthClientConfig } from './oauth-client.js'
import { OidcProviderConfig } from './oidc-provider.js'

/**
 * The auth plugin's settings, declared once: their bounds and defaults. The environment
 * (src/config.ts) produces this shape, and the plugin checks what it is given against it.
 * Times are in seconds.
 */
export const AuthSettings = Type.Object({
  jwt: Type.Object({
    secret: Type.Optional(Type.String({ minLength: 32, description: 'HS256 secret (at least 32 bytes); without it, EdDSA keys kept in the store' })),
    issuer: Type.String({ minLength: 1, default: 'urn:fastify-oauth2-jwt', description: '`iss` of access tokens, checked on every request' }),
    audience: Type.Optional(Type.String({ minLength: 1, description: '`aud` of access tokens; default: the issuer' }))
  }, { default: {} }),
  accessTokenTtlSeconds: Type.Integer({ minimum: 60, maximum: 86_400, default: 900 }),
  refreshTokenTtlSeconds: Type.Integer({ minimum: 86_400, maximum: 365 * 86_400, default: 14 * 86_400, description: 'absolute session lifetime' }),
  sessionIdleSeconds: Type.Integer({ minimum: 86_400, maximum: 365 * 86_400, default: 7 * 86_400, description: 'a session unused this long ends' }),
  refreshReuseIntervalSeconds: Type.Integer({ minimum: 0, maximum: 60, default: 10, description: 'for this long after its first use, a refresh token presented again by the same client, for no wider scope, gets the same successor and a new access token (several tabs refreshing at once); 0: strict rotation' }),
  maxSessionsPerUser: Type.Integer({ minimum: 1, maximum: 10_000, default: 100, description: 'live sessions one user may have (ASVS 7.1.2); a new login beyond it ends the oldest' }),
  defaultClientId: Type.String({ minLength: 1, maxLength: 200, default: 'public', description: '`client_id` claim when the client sends none' }),
  jwksMaxAgeSeconds: Type.Integer({ minimum: 1, maximum: 3600, default: 60, description: 'Cache-Control max-age of the JWK set, and how often instances re-read the keys: a new key signs 2 × this after its rotation' }),
  passwordMinLength: Type.Integer({ minimum: 8, maximum: 64, default: 8 }),
  passwordHashConcurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 256, description: 'argon2 computations at once; default: defaultHashConcurrency()' })),
  argon2: Type.Object({
    memoryCost: Type.Integer({ minimum: 7168, maximum: 1_048_576, default: 19_456, description: 'KiB' }),
    timeCost: Type.Integer({ minimum: 1, maximum: 10, default: 2, description: 'passes' }),
    parallelism: Type.Integer({ minimum: 1, maximum: 8, default: 1, description: 'lanes' })
  }, { default: {}, description: 'argon2id parameters of new hashes (OWASP: m=19456, t=2, p=1); a login with an older hash upgrades it' }),
  passwordHashMaxWaitSeconds: Type.Integer({ minimum: 1, maximum: 60, default: 5, description: 'the longest a login or registration may expect to wait for its password computation (the computations ahead × their average time ÷ concurrency); beyond it, 503 with a spread Retry-After at once' }),
  passwordHashQueueLimit: Type.Integer({ minimum: 0, maximum: 100_000, default: 1000, description: 'password computations that may wait, whatever their expected wait (a cap on memory); past it, 503 with Retry-After at once' }),
  loginFailureLimit: Type.Integer({ minimum: 0, maximum: 1000, default: 10, description: 'failed password logins per account in a window before its logins answer 429 (0: off)' }),
  cookies: Type.Object({
    publicUrl: Type.Optional(Type.String({ pattern: '^https?://[^/?#\\s]+(/[^?#\\s]*)?$', description: 'where browsers reach the server (PUBLIC_URL): its origin is the server\'s own (the only one, with trustedOrigins, that may use the cookies), and https makes them Secure with the __Host-/__Secure- names. Unset: the issuer\'s origin when it is an http(s) URL, and over plain http also the origin each request names in Host (development)' })),
    trustedOrigins: Type.Array(Type.String({ pattern: '^https?://[^/?#\\s]+$' }), { default: [], description: 'origins of browser apps on other origins that may use the cookies (CORS_ORIGINS)' }),
    accessToken: Type.Boolean({ default: false, description: 'cookie-mode logins also set the access token as an HttpOnly cookie, which protected routes accept (ACCESS_TOKEN_COOKIE)' })
  }, { default: {}, description: 'browser apps: the refresh token in a cookie, for requests with X-Token-Transport: cookie' }),
  loginFailureWindowSeconds: Type.Integer({ minimum: 60, maximum: 86_400, default: 900, description: 'the counting window, and the longest a lock lasts' }),
  auditRetentionDays: Type.Integer({ minimum: 1, maximum: 3650, default: 90, description: 'audit events older than this many days are deleted by the hourly clean-up' }),
  mfa: Type.Object({
    encryptionKey: Type.Optional(Type.String({ minLength: 43, maxLength: 44, description: 'DATA_ENCRYPTION_KEY: 32 random bytes in base64 (openssl rand -base64 32); encrypts TOTP secrets at rest (AES-256-GCM)' })),
    issuerName: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'the issuer shown by authenticator apps (otpauth URI); default: the hostname of jwt.issuer' })),
    requireEncryption: Type.Boolean({ default: false, description: 'refuse TOTP enrolment without encryptionKey (production)' })
  }, { default: {}, description: 'two-factor authentication (TOTP and recovery codes)' }),
  oauthClients: Type.Array(OAuthClientConfig, { default: [], maxItems: 1000, description: 'registered clients of the authorization-code flow (OAUTH_CLIENTS_FILE), beside those the store holds (`clients add`)' }),
  oidcProviders: Type.Array(OidcProviderConfig, { default: [], maxItems: 50, description: 'upstream providers of social login (OIDC_PROVIDERS_FILE): OpenID Connect by discovery, and the GitHub preset; each a button on the login page of /authorize' })
})
export type AuthSettings = Static<typeof AuthSettings>

/**
 * One argon2 computation per core, leaving at least one thread of libuv's pool free for DNS
 * and file reads. `threadPoolSize` is UV_THREADPOOL_SIZE (Node's default: 4).
 */
export const defaultHashConcurrency = (threadPoolSize = 4): number =>
  Math.max(1, Math.min(availableParallelism(), threadPoolSize - 1))
