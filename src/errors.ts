/*
 * What the services (and the stores under them) refuse, in domain terms. Each carries a stable
 * `code` (AUTH_…) and the HTTP `statusCode` it means, as @fastify/error's errors do, so any error
 * handler renders it (src/http/error-handler.ts does, in the contract's shape); the OAuth
 * endpoints map the grant errors to RFC 6749 bodies (routes/auth/oauth.ts).
 */

/** Base class: a refusal the caller caused, safe to describe to them. */
export class DomainError extends Error {
  /** a stable name of the refusal, for logs and clients (AUTH_…) */
  readonly code: string = 'AUTH_REFUSED'
  /** the HTTP status it means */
  readonly statusCode: number = 400
  /** headers the answer should carry (Retry-After) */
  readonly headers?: Record<string, string>
}

/** The entity does not exist, or is not the caller's to see. */
export class NotFoundError extends DomainError {
  override name = 'NotFoundError'
  override readonly code = 'AUTH_NOT_FOUND'
  override readonly statusCode = 404
  constructor (readonly entity: string) {
    super(`${entity} not found`)
  }
}

/** The username or e-mail is taken, ignoring case. Stores throw it from create and update. */
export class DuplicateUserError extends DomainError {
  override name = 'DuplicateUserError'
  override readonly code = 'AUTH_DUPLICATE_USER'
  override readonly statusCode = 409
  constructor (readonly field: 'username' | 'email') {
    super(`${field === 'email' ? 'E-mail' : 'Username'} already registered`)
  }
}

/** Thrown by the identity store when (provider, subject) is linked already (two first sign-ins racing). */
export class DuplicateIdentityError extends DomainError {
  override name = 'DuplicateIdentityError'
  override readonly code = 'AUTH_DUPLICATE_IDENTITY'
  override readonly statusCode = 409
  constructor () {
    super('this identity is linked already')
  }
}

/**
 * A refusal of social login (issue 23), shown on a page, never redirected: an unknown provider, a
 * state that is unknown, used, expired or of another browser, a provider that failed or answered
 * something that does not validate, an account that may not be linked. `message` is for the user.
 */
export class SocialLoginError extends DomainError {
  override name = 'SocialLoginError'
  override readonly code = 'AUTH_SOCIAL_LOGIN_REFUSED'
  constructor (message: string, override readonly statusCode: 400 | 403 | 404 | 409 | 502 = 400) {
    super(message)
  }
}

/** Removing this identity would leave the user no way to log in (no password, no other identity). */
export class LastSignInMethodError extends DomainError {
  override name = 'LastSignInMethodError'
  override readonly code = 'AUTH_LAST_SIGN_IN_METHOD'
  override readonly statusCode = 409
  constructor () {
    super('This is your last way to log in: set a password (POST /forgot-password) or link another provider first')
  }
}

/** A client id is registered already (`clients add`). */
export class DuplicateClientError extends DomainError {
  override name = 'DuplicateClientError'
  override readonly code = 'AUTH_DUPLICATE_CLIENT'
  override readonly statusCode = 409
  constructor (readonly clientId: string) {
    super(`client ${clientId} is registered already`)
  }
}

/**
 * Client authentication failed (RFC 6749 §5.2 invalid_client): an unknown client, a wrong
 * secret, or a confidential client that sent none. The token endpoint answers 401.
 */
export class InvalidClientError extends DomainError {
  override name = 'InvalidClientError'
  override readonly code = 'AUTH_INVALID_CLIENT'
  override readonly statusCode = 401
  constructor (message = 'Client authentication failed') {
    super(message)
  }
}

/**
 * The client may not use this grant (RFC 6749 §5.2 unauthorized_client): a registered client that
 * is not first-party asking for the password grant (RFC 9700 §2.4, OAuth 2.1). The token endpoint
 * answers 400.
 */
export class UnauthorizedClientError extends DomainError {
  override name = 'UnauthorizedClientError'
  override readonly code = 'AUTH_UNAUTHORIZED_CLIENT'
  constructor (message = 'This client may not use this grant: it must send the user through /authorize') {
    super(message)
  }
}

/**
 * A rule refused the input: the password policy, a wrong current password, an admin demoting
 * themself, an app's `beforeUserCreated` hook.
 */
export class PolicyError extends DomainError {
  override name = 'PolicyError'
  override readonly code = 'AUTH_POLICY'
  /** @param field the input the rule refused, where one did (e.g. 'username', 'password') */
  constructor (message: string, readonly field?: string) {
    super(message)
  }
}

/** The `error_description` of each grant's failure: one per grant, the same for every cause. */
export const INVALID_GRANT_MESSAGES = {
  password: 'Incorrect username or password',
  refresh_token: 'Invalid refresh token',
  authorization_code: 'Invalid authorization code',
  /** the two-factor grants, and a wrong `otp` in the password grant: code or mfa_token, wrong, used or expired */
  mfa: 'Invalid, used or expired code or mfa_token'
} as const

/**
 * A grant failed. Its message names the grant (the client knows which one it sent) and is the
 * same for every cause within it (unknown user, wrong password, disabled, unverified; a spent,
 * unknown or foreign refresh token), so it tells nothing about why.
 */
export class InvalidGrantError extends DomainError {
  override name = 'InvalidGrantError'
  override readonly code = 'AUTH_INVALID_GRANT'
  /**
   * `sessionEnded`: the grant's session is over (or there is none): a refresh cookie holding its
   * token is cleared. Not told to the client: the message stays the same.
   */
  constructor (readonly grant: keyof typeof INVALID_GRANT_MESSAGES = 'password', readonly sessionEnded = false) {
    super(INVALID_GRANT_MESSAGES[grant])
  }
}

/** A request lacks a parameter it needs, or has one twice (RFC 6749 §5.2 invalid_request). */
export class InvalidRequestError extends DomainError {
  override name = 'InvalidRequestError'
  override readonly code = 'AUTH_INVALID_REQUEST'
}

/** The requested scope exceeds what the user (or the session) may have. */
export class InvalidScopeError extends DomainError {
  override name = 'InvalidScopeError'
  override readonly code = 'AUTH_INVALID_SCOPE'
}

/** Too many failed password logins for this account: refused until `retryAfterSeconds` have passed. */
export class LoginLockedError extends DomainError {
  override name = 'LoginLockedError'
  override readonly code = 'AUTH_LOGIN_LOCKED'
  override readonly statusCode = 429
  override readonly headers: Record<string, string>
  constructor (readonly retryAfterSeconds: number) {
    super(`Too many failed logins for this account: retry in ${retryAfterSeconds} seconds`)
    this.headers = { 'retry-after': String(retryAfterSeconds) }
  }
}

/**
 * A password computation could not start within the bound (PASSWORD_HASH_MAX_WAIT_SECONDS), or the
 * queue is full: retry after `retryAfterSeconds`, which is spread so refused clients do not return together.
 */
export class OverloadedError extends DomainError {
  override name = 'OverloadedError'
  override readonly code = 'AUTH_OVERLOADED'
  override readonly statusCode = 503
  override readonly headers: Record<string, string>
  constructor (readonly retryAfterSeconds = 1) {
    super(`Too many logins in progress: retry in ${retryAfterSeconds} seconds`)
    this.headers = { 'retry-after': String(retryAfterSeconds) }
  }
}

/**
 * The password was right, and the account has a second factor (issue 21): the token endpoint
 * answers 403 `{error: "mfa_required", error_description, mfa_token}` (Auth0's shape). The login's
 * failure count is kept (a correct password does not clear the wrong codes).
 */
export class MfaRequiredError extends DomainError {
  override name = 'MfaRequiredError'
  override readonly code = 'AUTH_MFA_REQUIRED'
  override readonly statusCode = 403
  /** @param mfaToken the opaque token that finishes the login with a code (5 minutes, single use) */
  constructor (readonly mfaToken: string) {
    super('This account has two-factor authentication. Send otp (the 6-digit code of your authenticator app) with the username ' +
      'and password, or finish with grant_type=http://auth0.com/oauth/grant-type/mfa-otp, this mfa_token and otp ' +
      '(or grant_type=http://auth0.com/oauth/grant-type/mfa-recovery-code and recovery_code). In /docs: "Try it out" on ' +
      'POST /token with username, password and otp, then paste the access_token into Authorize > bearerAuth.')
  }
}

/** A two-factor change that the account's state does not allow (enrolling while TOTP is on): 409. */
export class MfaStateError extends DomainError {
  override name = 'MfaStateError'
  override readonly code = 'AUTH_MFA_STATE'
  override readonly statusCode = 409
}

/** TOTP cannot be used: production without DATA_ENCRYPTION_KEY, or a secret that does not decrypt (503, logged). */
export class MfaUnavailableError extends DomainError {
  override name = 'MfaUnavailableError'
  override readonly code = 'AUTH_MFA_UNAVAILABLE'
  override readonly statusCode = 503
}
