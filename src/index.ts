/*
 * The package: the auth plugin, its routes, and what a custom store needs.
 *
 *   import auth, { authRoutes } from 'fastify-oauth2-jwt'
 *   await app.register(auth, { store, jwt: { secret } })
 *   await app.register(authRoutes, { prefix: '/auth' })
 *
 * Its declarations carry the plugin's type augmentations: `request.user` (null where no route
 * protection ran; `currentUser(request)` reads it checked), `app.authenticate` and
 * `config.scopes` are typed for any app that imports this module.
 */
export { default, type AuthPluginOptions, type AuthenticatedUser } from '../plugins/auth/index.js'
export { currentUser } from '../plugins/auth/current-user.js'
export { default as authRoutes, type AuthRoutesOptions } from '../routes/auth/index.js'
export { default as adminRoutes } from '../routes/users/admin.js'
export { default as auditRoutes } from '../routes/audit.js'
export { default as webhooksPlugin, type WebhooksPluginOptions } from '../plugins/webhooks.js'
export { createSqlAuditStore, createSqlWebhookStore } from './stores/sql-audit-store.js'
export { default as wellKnownRoutes, type WellKnownRoutesOptions } from '../routes/well-known.js'
export { default as recoveryRoutes, type RecoveryRoutesOptions } from '../routes/auth/recovery.js'
export { default as mfaRoutes } from '../routes/users/mfa.js'
export { default as mailPlugin, type MailPluginOptions } from '../plugins/mail.js'
export { default as app, createApp, fastifyOptions, type AppOptions } from './app.js'
export { loadConfig, type Config } from './config.js'
export { createDatabase } from './db/connection.js'
export { migrateToLatest } from './db/migrations.js'
export { createAuthCore, type AuthCore, type AuthCoreOptions } from './core/index.js'
export { AUTH_EVENT_TYPES, type AuthEvent, type AuthEventListener, type AuthEventType } from './core/events.js'
export { RESERVED_CLAIMS, type AuthHooks, type AuthTokenClaims, type AuthUserMetadata, type UserOrigin } from './core/hooks.js'
export type { Grant, GrantRequest, GrantResult, GrantRegistry } from './grants/registry.js'
export type { LoginAttempt, LoginCheck, LoginPipeline } from './services/login.js'
export type { TokenSource } from './http/token-sources.js'
export { CookieCsrfError, TRANSPORT_HEADER, type CookieTransport } from './http/cookie-transport.js'
export { createSqlStore, createMemoryStore } from './stores/sql-store.js'
export { createSqlMailStore } from './stores/sql-mail-store.js'
export { createSqlAuthorizationStore, createMemoryAuthorizationStore } from './stores/sql-authorization-store.js'
export { default as authorizeRoutes, type AuthorizeRoutesOptions } from '../routes/auth/authorize.js'
export { AuthorizationPageError, type AuthorizationQuery, type AuthorizationService } from './services/authorization.js'
export { hashClientSecret, type ClientRegistry, type RegisteredClient } from './services/oauth-clients.js'
export { OAuthClientConfig } from './schemas/oauth-client.js'
export { createRedisLoginFailureStore } from './stores/redis-login-failures.js'
export {
  DomainError, DuplicateClientError, DuplicateUserError, InvalidClientError, InvalidGrantError, InvalidRequestError, InvalidScopeError, LoginLockedError,
  MfaRequiredError, MfaStateError, MfaUnavailableError, NotFoundError, OverloadedError, PolicyError
} from './errors.js'
export { InvalidEmailTokenError } from './services/recovery.js'
export type { ScopeDefinition } from './services/scopes.js'
export type {
  AuthStore, UserStore, SessionStore, KeyStore, LoginFailureStore, SessionRecord, SigningKeyRecord, RotationResult, ReuseWindow, NewUser, UserPatch, SessionListing,
  AuditStore, AuditEntry, AuditQuery, AuditCursor, StoredEvent, WebhookDeliveryStore, WebhookDeliveryRecord, WebhookDeliverySummary,
  MfaStore, TotpRecord, MfaChallengeRecord,
  AuthorizationStore, AuthorizationCodeRecord, AuthorizationRequestRecord, OAuthClientRecord
} from './stores/auth-store.js'
export type { MailStore, EmailTokenStore, OutboxStore, MailRequestStore, EmailTokenOwner, EmailTokenPurpose } from './stores/mail-store.js'
export * from './schemas/index.js'
