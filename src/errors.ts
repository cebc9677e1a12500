/*
 * What the services (and the stores under them) refuse, in domain terms. They say nothing of
 * HTTP: the error handler (plugins/errors.ts) and the OAuth endpoints (routes/auth/oauth.ts)
 * choose the status codes.
 */

/** Base class: a refusal the caller caused, safe to describe to them. */
export class DomainError extends Error {}

/** The entity does not exist, or is not the caller's to see. */
export class NotFoundError extends DomainError {
  override name = 'NotFoundError'
  constructor (readonly entity: string) {
    super(`${entity} not found`)
  }
}

/** The username or e-mail is taken, ignoring case. Stores throw it from create and update. */
export class DuplicateUserError extends DomainError {
  override name = 'DuplicateUserError'
  constructor (readonly field: 'username' | 'email') {
    super(`${field === 'email' ? 'E-mail' : 'Username'} already registered`)
  }
}

/** A rule refused the input: the password policy, a wrong current password, an admin demoting themself. */
export class PolicyError extends DomainError {
  override name = 'PolicyError'
  /** @param field the input the rule refused, where one did (e.g. 'username', 'password') */
  constructor (message: string, readonly field?: string) {
    super(message)
  }
}

/** The `error_description` of each grant's failure: one per grant, the same for every cause. */
export const INVALID_GRANT_MESSAGES = {
  password: 'Incorrect username or password',
  refresh_token: 'Invalid refresh token'
} as const

/**
 * A grant failed. Its message names the grant (the client knows which one it sent) and is the
 * same for every cause within it (unknown user, wrong password, disabled, unverified; a spent,
 * unknown or foreign refresh token), so it tells nothing about why.
 */
export class InvalidGrantError extends DomainError {
  override name = 'InvalidGrantError'
  constructor (readonly grant: keyof typeof INVALID_GRANT_MESSAGES = 'password') {
    super(INVALID_GRANT_MESSAGES[grant])
  }
}

/** The requested scope exceeds what the user (or the session) may have. */
export class InvalidScopeError extends DomainError {
  override name = 'InvalidScopeError'
}

/** Too many failed password logins for this account: refused until `retryAfterSeconds` have passed. */
export class LoginLockedError extends DomainError {
  override name = 'LoginLockedError'
  constructor (readonly retryAfterSeconds: number) {
    super(`Too many failed logins for this account: retry in ${retryAfterSeconds} seconds`)
  }
}

/**
 * A password computation could not start within the bound (PASSWORD_HASH_MAX_WAIT_SECONDS), or the
 * queue is full: retry after `retryAfterSeconds`, which is spread so refused clients do not return together.
 */
export class OverloadedError extends DomainError {
  override name = 'OverloadedError'
  constructor (readonly retryAfterSeconds = 1) {
    super(`Too many logins in progress: retry in ${retryAfterSeconds} seconds`)
  }
}
