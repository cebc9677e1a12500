/*
 * The public TypeBox schemas: request and response shapes of the routes, `request.user`, the
 * plugin's settings. Each name is both the schema (a value) and its type (`Static<>`).
 *
 *   import { UserPublic, TokenResponse } from 'fastify-oauth2-jwt/schemas'
 */
export { AuditEventPublic, AuditListQuery, AuditPage } from './audit.js'
export { AuthSettings } from './auth-options.js'
export { HttpError } from './common.js'
export { ItemCreate, ItemPublic } from './item.js'
export { JwkSet, PublicJwk } from './jwk.js'
export { MfaCode, MfaStatus, RecoveryCodes, TotpEnrolment, TotpEnrolmentRequest } from './mfa.js'
export { SessionPublic } from './session.js'
export { WebhookSettings } from './webhook-options.js'
export { AccessTokenClaims, MfaRequiredResponse, OAuthErrorResponse, RevokeRequest, TokenRequest, TokenResponse } from './token.js'
export { AuthUser, PasswordChange, UserCreate, UserList, UserPublic, UserRecord, UserUpdateAdmin, UserUpdateMe } from './user.js'
