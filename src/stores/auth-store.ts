import type { Selectable } from 'kysely'
import type { AuthEvent } from '../core/events.js'
import type { AuthorizationCodesTable, AuthorizationRequestsTable, SessionsTable, SigningKeysTable, SocialLoginStatesTable, WebhookDeliveriesTable } from '../db/tables.js'
import type { UserRecord } from '../schemas/user.js'

/*
 * The storage the auth plugin needs, as interfaces: the services call these and nothing else.
 * The SQL implementation (createSqlStore) is the default; an app can bring its own.
 */
/** `amr` is optional: stores written before it (issue 21) return sessions without it, read as ["pwd"]. */
export type SessionRecord = Omit<Selectable<SessionsTable>, 'amr'> & { amr?: string | null }
export type SigningKeyRecord = Selectable<SigningKeysTable>

export interface NewUser {
  username: string
  email?: string | null
  full_name?: string | null
  /** null: a user without a password (social login); the password grant refuses them as a wrong password */
  password_hash: string | null
  is_admin?: boolean
  disabled?: boolean
  email_verified?: boolean
  /** the app's own fields (userMetadata) */
  metadata?: Record<string, unknown> | null
}
export type UserPatch = Partial<Pick<UserRecord, 'email' | 'full_name' | 'disabled' | 'is_admin' | 'password_hash' | 'email_verified' | 'metadata'>>

/** Thrown by `users.create` and `users.update` when the username or e-mail is taken (ignoring case). */
export { DuplicateUserError } from '../errors.js'

export interface UserStore {
  create (user: NewUser): Promise<UserRecord>
  /** by username or e-mail, ignoring case */
  findByLogin (login: string): Promise<UserRecord | undefined>
  findById (id: string): Promise<UserRecord | undefined>
  /** A new e-mail (other than the stored one, ignoring case) clears email_verified, unless the patch sets it. */
  update (id: string, patch: UserPatch): Promise<UserRecord | undefined>
  delete (id: string): Promise<boolean>
  list (limit: number, offset: number): Promise<{ items: UserRecord[], total: number }>
  /** Creates every user or none (one transaction). @throws DuplicateUserError */
  createMany (users: NewUser[]): Promise<UserRecord[]>
  /** Of these identity keys (identifiers.ts identityKey), those some account uses as username or e-mail. */
  takenKeys (keys: string[]): Promise<string[]>
  /** Replaces the password hash only if it is still `expected` (compare-and-set); true if it was replaced. */
  replacePasswordHash (id: string, expected: string, next: string): Promise<boolean>
  /** One stored hash of each kind (scheme and cost) that does not start with `nativePrefix`. */
  foreignHashSamples (nativePrefix: string): Promise<string[]>
}

export type RotationResult =
  | { status: 'rotated', session: SessionRecord, user: UserRecord }
  | { status: 'reused', session: SessionRecord }
  /** presented again within the reuse interval, its successor unused: answer with that successor again */
  | { status: 'replayed', session: SessionRecord, user: UserRecord }
  | { status: 'unknown' }

/** Which of a user's sessions to list: the active ones at `now` (not idle since `idleSince`), a page of them. */
export interface SessionListing { now: number, idleSince: number, limit: number, offset: number }

/**
 * The reuse interval (CONTRACT "Concurrent refresh"), for a store that supports it: a used token
 * presented again is 'replayed' when it was first used at or after `since` and its successor
 * (`successorHash`, derived, not random) is stored and unused; `approve` then runs with the scope
 * the first use granted (`approve`'s return value, stored with the token), and throws to refuse
 * without ending anything. A store that ignores it rotates strictly.
 */
export interface ReuseWindow {
  since: number
  approve: (session: SessionRecord, user: UserRecord, usedScope: string | null) => void
}

export interface SessionStore {
  /**
   * Stores a new session and its first refresh token; with `keepNewest`, ends the user's oldest
   * live sessions beyond that many, in the same transaction (the per-user cap).
   */
  create (session: SessionRecord, refreshTokenHash: string, keepNewest?: number): Promise<void>
  /** The session and its user in one lookup: the per-request check. */
  findWithUser (sessionId: string): Promise<{ session: SessionRecord, user: UserRecord } | undefined>
  /**
   * Optional: `findWithUser`'s answer when the store holds it in memory and knows it is still
   * exact (nothing written since), without I/O; undefined when it must be asked. The same object
   * for as long as it stays exact, so a caller may key what it derives from it on its identity.
   */
  cachedWithUser? (sessionId: string): { session: SessionRecord, user: UserRecord } | undefined
  findByRefreshToken (tokenHash: string): Promise<SessionRecord | undefined>
  touch (sessionId: string, now: number): Promise<void>
  /**
   * Atomically marks the refresh token used and stores its successor, so of two racing
   * refreshes (even on two instances) exactly one sees 'rotated'. A token that was already
   * used comes back as 'reused' (or 'replayed', within `reuse`). `approve` runs inside the same
   * transaction before the successor is stored: when it throws, nothing changes and the token
   * stays usable; what it returns (the granted scope) is stored with the used token.
   */
  rotateRefreshToken (tokenHash: string, successorHash: string, now: number, approve: (session: SessionRecord, user: UserRecord) => string | undefined, reuse?: ReuseWindow): Promise<RotationResult>
  end (sessionId: string, now: number): Promise<boolean>
  endAllForUser (userId: string, now: number, exceptSessionId?: string): Promise<number>
  /** The user's sessions not ended, newest first; with `listing`, only its page of the active ones. */
  listForUser (userId: string, listing?: SessionListing): Promise<SessionRecord[]>
  /** Deletes sessions that ended or expired before `before`. */
  purge (before: number): Promise<number>
}

export interface KeyStore {
  list (): Promise<SigningKeyRecord[]>
  insert (key: SigningKeyRecord): Promise<void>
  /** marks the key retired at `now` (it stops signing; it verifies until deleted) */
  retire (kid: string, now: number): Promise<void>
  deleteRetiredBefore (before: number): Promise<number>
}

/** Failed password logins per login key, in fixed windows; every instance must see the same counts. */
export interface LoginFailureStore {
  /** The failures counted in the window that contains `now`, and when that window ends (epoch ms). */
  get (key: string, now: number, windowMs: number): Promise<{ failures: number, windowEnds: number }>
  /** Counts one failure atomically (a window starts at the first failure); the new count and window end. */
  add (key: string, now: number, windowMs: number): Promise<{ failures: number, windowEnds: number }>
  /** Forgets the key's failures (a successful login, an admin unlock); true if there were any. */
  clear (key: string): Promise<boolean>
  /**
   * Takes one back from the key's count, atomically, never below 0 (a check slot given back).
   * Optional: without it, attempts sent at once are each checked against the count read before.
   */
  release? (key: string): Promise<void>
  /** Deletes windows that ended before `before`. */
  purge (before: number): Promise<number>
}

/** One event to store (issue 22), and what goes with it in the same transaction. */
export interface AuditEntry {
  event: AuthEvent
  /**
   * Set for failed logins of names that belong to no account: one row per key (client address
   * and minute), its `count` raised by each further one, so a flood cannot grow the table.
   */
  aggregateKey?: string
  /** the webhook body (JSON text) to queue under the event's id; for an aggregated entry, only with its first row */
  webhook?: string
}

/** A stored event; `count` > 1 only for an aggregated row. */
export type StoredEvent = AuthEvent & { count: number }

/** Where a page of events starts: strictly before (newest first) or after (oldest first) this event. */
export interface AuditCursor { at: number, id: string }

/** A query of the audit log; times in epoch ms, `since` inclusive, `until` exclusive. */
export interface AuditQuery {
  type?: string
  /** only these types (the security events of a user) */
  types?: readonly string[]
  userId?: string
  since?: number
  until?: number
  limit: number
  /** newest first from before this event (default order), or oldest first after it */
  before?: AuditCursor
  after?: AuditCursor
  order?: 'desc' | 'asc'
}

export interface AuditStore {
  /** Stores the entries (and their webhook deliveries) in the transaction of the store it belongs to. */
  record (entries: AuditEntry[]): Promise<void>
  list (query: AuditQuery): Promise<StoredEvent[]>
  /** Deletes events older than `before` (epoch ms); the number deleted. */
  purge (before: number): Promise<number>
}

export type WebhookDeliveryRecord = Selectable<WebhookDeliveriesTable>
/** A delivery without its body, for listings. */
export type WebhookDeliverySummary = Omit<WebhookDeliveryRecord, 'payload'>

/**
 * The webhook outbox: rows written by AuditStore.record, claimed and marked as the mail outbox's
 * are (src/db/claim-queue.ts). `sent`'s outcome and `failed`'s cause may carry the receiver's
 * `status`, which is recorded.
 */
export interface WebhookDeliveryStore {
  claim (claimId: string, now: number, leaseMs: number, limit: number): Promise<WebhookDeliveryRecord[]>
  sent (id: string, claimId: string, now: number, outcome?: unknown): Promise<boolean>
  failed (id: string, claimId: string, error: string, retryAt: number | null, now: number, cause?: unknown): Promise<boolean>
  /** The newest deliveries first, without their bodies. */
  list (limit: number): Promise<WebhookDeliverySummary[]>
  /** Queues a delivery again now (given up or already sent); false for an unknown id. */
  retry (id: string, now: number): Promise<boolean>
  /** Deletes deliveries sent or given up before `before`. */
  purge (before: number): Promise<number>
}

/** A user's TOTP as stored: the secret still encrypted. */
export interface TotpRecord {
  user_id: string
  secret: string
  state: 'pending' | 'on'
  /** the last accepted time step (-1: none) */
  last_step: number
  created_at: number
}

/** An `mfa_token` as stored (only its hash). */
export interface MfaChallengeRecord {
  token_hash: string
  user_id: string
  client_id: string
  scope: string | null
  /** the first factor's methods, JSON array text (null: ["pwd"]) */
  amr: string | null
  failures: number
  created_at: number
  expires_at: number
  used_at: number | null
}

/**
 * Two-factor authentication (issue 21). Optional in AuthStore: a store without it has no MFA (the
 * routes answer 404, logins never ask for a code). Every "at most once" step is a compare-and-set
 * in the store, so racing requests (even on two instances) get one success.
 */
export interface MfaStore {
  getTotp (userId: string): Promise<TotpRecord | undefined>
  /** Stores a pending secret, replacing a pending one; false (nothing stored) when TOTP is on. */
  putPendingTotp (userId: string, secret: string, now: number): Promise<boolean>
  /**
   * Turns a pending TOTP on with `step` as its last accepted step, only if it is still pending and
   * `step` > last_step (compare-and-set), and stores these recovery code hashes (replacing any),
   * in one transaction; sets the user's mfa_enabled. True if this call turned it on.
   */
  activateTotp (userId: string, step: number, codeHashes: string[], now: number): Promise<boolean>
  /** Advances last_step to `step` only if TOTP is on and last_step < step (compare-and-set); true if it did. */
  advanceStep (userId: string, step: number): Promise<boolean>
  /** Deletes the TOTP and every recovery code, clears mfa_enabled; true if TOTP was on or pending. */
  deleteTotp (userId: string): Promise<boolean>
  /** Replaces every recovery code of the user with these hashes (one transaction). */
  replaceRecoveryCodes (userId: string, codeHashes: string[], now: number): Promise<void>
  /** Marks this unused code of the user used (compare-and-set); true if this call used it. */
  useRecoveryCode (userId: string, codeHash: string, now: number): Promise<boolean>
  /** The user's unused recovery codes. */
  countRecoveryCodes (userId: string): Promise<number>
  /** Whether any user has TOTP on or pending (production refuses to start without DATA_ENCRYPTION_KEY then). */
  anyTotp (): Promise<boolean>
  createChallenge (challenge: Omit<MfaChallengeRecord, 'failures' | 'used_at'>): Promise<void>
  findChallenge (tokenHash: string): Promise<MfaChallengeRecord | undefined>
  /** Counts a wrong code; at `maxFailures` the challenge is used up. Resolves the new count. */
  failChallenge (tokenHash: string, maxFailures: number, now: number): Promise<number>
  /** Marks it used if unused, unexpired and under `maxFailures` (compare-and-set); true if this call did. */
  consumeChallenge (tokenHash: string, now: number, maxFailures: number): Promise<boolean>
  /** Deletes challenges that expired before `before`. */
  purgeChallenges (before: number): Promise<number>
  /**
   * Deletes every challenge of the user, used or not: an `mfa_token` handed out before a password
   * change or reset, or before TOTP was turned on or off, must not finish a login after it.
   */
  deleteChallenges (userId: string): Promise<number>
}

/** A client of the authorization-code flow registered in the store (`clients add`); times in epoch ms. */
export interface OAuthClientRecord {
  client_id: string
  /** `sha256:<hex>` or an argon2id PHC string; null for a public client */
  secret_hash: string | null
  redirect_uris: string[]
  /** what it may request; null: every scope */
  scopes: string[] | null
  first_party: boolean
  created_at: number
}

/**
 * A pending authorization request (GET /authorize), kept server-side under the hash of a random
 * id that the login form carries, bound to the browser by the hash of a cookie's value.
 * `user_id` is set once the user logged in and the request waits for consent.
 */
export type AuthorizationRequestRecord = Selectable<AuthorizationRequestsTable>

/** An authorization code, stored only as its hash, bound to all it was issued for (RFC 6749 §4.1.2): a row of its table. */
export type AuthorizationCodeRecord = Selectable<AuthorizationCodesTable>

/**
 * Storage of the authorization-code flow (issue 23): registered clients, pending requests and
 * codes. Optional in an AuthStore: without it the auth core keeps requests and codes in memory
 * (one instance only) and knows the clients of its options only.
 */
export interface AuthorizationStore {
  findClient (clientId: string): Promise<OAuthClientRecord | undefined>
  /** @throws DuplicateClientError when the id is taken */
  insertClient (client: OAuthClientRecord): Promise<void>
  listClients (): Promise<OAuthClientRecord[]>
  deleteClient (clientId: string): Promise<boolean>
  createRequest (request: AuthorizationRequestRecord): Promise<void>
  findRequest (idHash: string): Promise<AuthorizationRequestRecord | undefined>
  /** Records who logged in for a request waiting for consent, and how (`amr`, JSON array text); false when it is gone. */
  setRequestUser (idHash: string, userId: string, amr: string): Promise<boolean>
  /** Deletes the request and resolves it, atomically: of two racing takes, one gets it (single use). */
  takeRequest (idHash: string): Promise<AuthorizationRequestRecord | undefined>
  createCode (code: AuthorizationCodeRecord): Promise<void>
  /**
   * Marks the code used at `now` atomically and resolves it with `first: true`; a code already
   * used is marked reused (`reused_at`) and resolves with `first: false`; an unknown one undefined.
   */
  useCode (codeHash: string, now: number): Promise<{ first: boolean, code: AuthorizationCodeRecord } | undefined>
  /** Records the session the code's first use started; resolves the code as it is then (a `reused_at` set meanwhile shows a reuse raced it). */
  setCodeSession (codeHash: string, sessionId: string): Promise<AuthorizationCodeRecord | undefined>
  /**
   * Deletes the user's logins in progress: requests where they logged in and wait for consent, and
   * codes not yet redeemed (used ones stay, for reuse detection). Resolves how many went.
   */
  forgetUser (userId: string): Promise<number>
  /** Deletes requests and codes that expired before `before` (used codes are kept until then too). */
  purge (before: number): Promise<number>
}

/** A user's identity at an upstream provider (social login); times in epoch ms. */
export interface IdentityRecord {
  id: string
  user_id: string
  provider: string
  /** the provider's stable id of the user (OIDC `sub`): with `provider`, the key */
  subject: string
  email: string | null
  email_verified: boolean
  created_at: number
}

/** A social login under way (GET /login/{id} to its callback), by the hash of its state: a row of its table. */
export type SocialLoginStateRecord = Selectable<SocialLoginStatesTable>

/**
 * Storage of social login (issue 23): identities at providers and the logins under way. Optional
 * in an AuthStore: without it no provider can be configured.
 */
export interface IdentityStore {
  find (provider: string, subject: string): Promise<IdentityRecord | undefined>
  /** The user's identities, oldest first. */
  listForUser (userId: string): Promise<IdentityRecord[]>
  /** @throws DuplicateIdentityError when (provider, subject) is linked already */
  insert (identity: IdentityRecord): Promise<void>
  /** Records the address the provider gave at the last sign-in (informational). */
  updateEmail (id: string, email: string | null, emailVerified: boolean): Promise<void>
  /** Deletes the user's identity of this id; false when the user has none by that id. */
  delete (userId: string, id: string): Promise<boolean>
  createState (state: SocialLoginStateRecord): Promise<void>
  /** Deletes the state and resolves it, atomically: of two racing takes, one gets it (single use). */
  takeState (stateHash: string): Promise<SocialLoginStateRecord | undefined>
  /** Deletes states that expired before `before`. */
  purgeStates (before: number): Promise<number>
}

export interface AuthStore {
  users: UserStore
  sessions: SessionStore
  keys: KeyStore
  loginFailures: LoginFailureStore
  /** The audit log (issue 22). Optional for stores written before it: without it nothing is stored. */
  audit?: AuditStore
  /** The webhook outbox (issue 22). Optional: without it no webhook is delivered. */
  webhooks?: WebhookDeliveryStore
  /**
   * Runs `work` with a store whose every part writes in one transaction, committed when `work`
   * resolves, rolled back when it throws: an event is stored with the change it records. Optional:
   * without it the event is stored in its own write right after the change. `work` must use only
   * the store it is given (on SQLite any other query waits for the transaction to end).
   */
  transaction?<T> (work: (store: AuthStore) => Promise<T>): Promise<T>
  /** optional (issue 21): without it, no two-factor authentication */
  mfa?: MfaStore
  /** the authorization-code flow's storage (issue 23); optional (see AuthorizationStore) */
  authorization?: AuthorizationStore
  /** social login's storage (issue 23); optional (see IdentityStore) */
  identities?: IdentityStore
}

/** The methods an AuthStore must have: the auth plugin checks a given store against them at register. */
export const AUTH_STORE_METHODS: { [K in keyof AuthStore]: ReadonlyArray<keyof NonNullable<AuthStore[K]>> } = {
  users: ['create', 'findByLogin', 'findById', 'update', 'delete', 'list', 'createMany', 'takenKeys', 'replacePasswordHash', 'foreignHashSamples'],
  sessions: ['create', 'findWithUser', 'findByRefreshToken', 'touch', 'rotateRefreshToken', 'end', 'endAllForUser', 'listForUser', 'purge'],
  keys: ['list', 'insert', 'retire', 'deleteRetiredBefore'],
  loginFailures: ['get', 'add', 'clear', 'purge']
}

/** The methods of the optional `mfa` part: a store that has the part must have them all. */
export const MFA_STORE_METHODS: ReadonlyArray<keyof MfaStore> = [
  'getTotp', 'putPendingTotp', 'activateTotp', 'advanceStep', 'deleteTotp', 'replaceRecoveryCodes', 'useRecoveryCode',
  'countRecoveryCodes', 'anyTotp', 'createChallenge', 'findChallenge', 'failChallenge', 'consumeChallenge', 'purgeChallenges',
  'deleteChallenges'
]
