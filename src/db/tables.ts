/*
 * The tables as the SQL layer sees them (the "table model" layer; the API shapes are the
 * TypeBox schemas in src/schemas). Times are epoch milliseconds and flags are 0/1 integers,
 * so SQLite and PostgreSQL return the same values through the same queries.
 */
import type { Generated } from 'kysely'

type Flag = number

export interface UsersTable {
  id: string
  username: string
  /** lower-cased, NFKC-normalised username: the unique key, so uniqueness ignores case */
  username_key: string
  email: string | null
  email_key: string | null
  full_name: string | null
  password_hash: string
  disabled: Flag
  is_admin: Flag
  /** the address was proven by a link sent to it (/verify), or set so by an admin; 0 by default */
  email_verified: Generated<Flag>
  /** the app's own fields (userMetadata), as JSON text; null without */
  metadata: Generated<string | null>
  /** TOTP is on (mirrors user_totp.state = 'on'); 0 by default */
  mfa_enabled: Generated<Flag>
  created_at: number
  updated_at: number
}

export interface SessionsTable {
  id: string
  user_id: string
  scope: string
  client_id: string
  user_agent: string | null
  created_at: number
  last_used_at: number
  /** absolute end of the session: refresh never extends it */
  expires_at: number
  ended_at: number | null
  /**
   * The key successors are derived with (HMAC-SHA256 of the parent token, src/identifiers.ts), so
   * a replay within the reuse interval gets the same successor; null: strict rotation (sessions
   * from before migration 0006, or a custom store that drops it).
   */
  rotation_key: string | null
  /** the authentication methods of the login that started it (JSON array, e.g. ["pwd","otp"]); null: ["pwd"] */
  amr: Generated<string | null>
}

export interface RefreshTokensTable {
  /** SHA-256 of the token: the token itself is never stored */
  token_hash: string
  session_id: string
  created_at: number
  used_at: number | null
  /** the scope its first use granted: a replay within the reuse interval may ask no more */
  used_scope: string | null
}

export interface SigningKeysTable {
  kid: string
  alg: string
  public_jwk: string
  private_key: string
  created_at: number
  retired_at: number | null
}

export interface ItemsTable {
  id: string
  owner_id: string
  title: string
  description: string | null
  created_at: number
}

export interface LoginFailuresTable {
  /** identityKey() of the login as typed (username or e-mail), known account or not */
  login_key: string
  failures: number
  /** start of the counting window (epoch ms): failures before window_start + window count */
  window_start: number
}

export interface EmailTokensTable {
  /** SHA-256 of the token: the token itself is only in the e-mail */
  token_hash: string
  user_id: string
  purpose: 'reset' | 'verify'
  /** the address the token was sent to: it must still be the account's when the token is used */
  email: string
  created_at: number
  expires_at: number
  used_at: number | null
}

/** A queued e-mail: the outbox's claim columns (QueueColumns) and the message. */
export interface MailOutboxTable extends QueueColumns {
  recipient: string
  subject: string
  /** the body, erased once the message is sent or given up (it carries a token) */
  text: string
  html: string | null
}

/**
 * A /forgot-password or /request-verify-token request, queued as it arrived: the same one row for
 * every address, so the answer's time tells nothing. The mail worker turns it into a token and a
 * message (or nothing) and deletes it, in one transaction.
 */
export interface MailRequestsTable {
  id: string
  /** identityKey() of the address asked for */
  email_key: string
  purpose: 'reset' | 'verify'
  requested_at: number
}

/** The claim columns an outbox row has (mail_outbox, webhook_deliveries): src/db/claim-queue.ts works on them. */
export interface QueueColumns {
  id: string
  created_at: number
  /** not sent after this, or null */
  expires_at: number | null
  attempts: number
  next_attempt_at: number
  /** a worker's claim: others leave the row alone until then */
  claimed_until: number | null
  claimed_by: string | null
  sent_at: number | null
  /** given up */
  failed_at: number | null
  last_error: string | null
}

/**
 * One stored event (issue 22; CONTRACT.md "Events, hooks and the audit log"). `at` in epoch ms;
 * `data` as JSON text. Failed logins of names that belong to no account are one row per client
 * address and minute (`aggregate_key`), `count` of them.
 */
export interface AuditEventsTable {
  id: string
  type: string
  at: number
  user_id: string | null
  actor_id: string | null
  session_id: string | null
  client_id: string | null
  ip: string | null
  user_agent: string | null
  data: string
  count: number
  aggregate_key: string | null
}

/** A webhook delivery of one event: written in the event's transaction, sent by the webhook worker. */
export interface WebhookDeliveriesTable extends QueueColumns {
  event_id: string
  event_type: string
  /** the JSON body, exactly as signed */
  payload: string
  /** the receiver's last HTTP status, or null (no answer) */
  last_status: number | null
}

/** A user's TOTP secret (issue 21). */
export interface UserTotpTable {
  user_id: string
  /** encrypted (src/services/mfa-crypto.ts): never the base32 secret in clear when DATA_ENCRYPTION_KEY is set */
  secret: string
  /** 'pending' until a first code confirms it, then 'on' */
  state: 'pending' | 'on'
  /** the last accepted RFC 6238 time step (-1: none): a step is accepted once, nothing older */
  last_step: Generated<number>
  created_at: number
}

export interface RecoveryCodesTable {
  /** SHA-256 of the normalised code */
  code_hash: string
  user_id: string
  created_at: number
  used_at: number | null
}

/** An `mfa_token` handed out by the password grant's 403 `mfa_required`. */
export interface MfaChallengesTable {
  /** SHA-256 of the token */
  token_hash: string
  user_id: string
  client_id: string
  /** the scope asked for at the password step (null: the user's default) */
  scope: string | null
  /** the first factor's methods, JSON array text (migration 0010; null: ["pwd"]) */
  amr: string | null
  failures: Generated<number>
  created_at: number
  expires_at: number
  used_at: number | null
}

/** Clients of the authorization-code flow added by the CLI (issue 23). */
export interface OAuthClientsTable {
  client_id: string
  secret_hash: string | null
  /** JSON array of exact redirect URIs */
  redirect_uris: string
  /** JSON array, null: every scope */
  scopes: string | null
  first_party: Flag
  created_at: number
}

/** Pending GET /authorize requests, by the hash of their random id. */
export interface AuthorizationRequestsTable {
  id_hash: string
  browser_hash: string
  client_id: string
  redirect_uri: string
  /** the requested scope (space-separated), null when none was asked for */
  scope: string | null
  state: string | null
  code_challenge: string
  /** set once the user logged in and the request waits for consent */
  user_id: string | null
  /** the authentication methods of that login (RFC 8176, JSON array text), set with `user_id` */
  amr: string | null
  created_at: number
  expires_at: number
}

/** Authorization codes, by hash; single use (used_at, reused_at), the session their use started (session_id). */
export interface AuthorizationCodesTable {
  code_hash: string
  client_id: string
  redirect_uri: string
  code_challenge: string
  user_id: string
  scope: string
  created_at: number
  expires_at: number
  used_at: number | null
  /** when it was presented again after its first use */
  reused_at: number | null
  session_id: string | null
  /** the authentication methods of the login that issued it (JSON array text) */
  amr: string | null
}

/** A user's identity at an upstream provider (social login, issue 23): one per (provider, subject). */
export interface UserIdentitiesTable {
  id: string
  user_id: string
  /** the provider's id in OIDC_PROVIDERS_FILE */
  provider: string
  /** the provider's stable id of the user (OIDC `sub`; GitHub's numeric user id) */
  subject: string
  /** the address the provider gave at the last sign-in (informational: never a key) */
  email: string | null
  email_verified: Flag
  created_at: number
}

/** A social login under way, by the hash of its `state`; single use (deleted when taken), 10 minutes. */
export interface SocialLoginStatesTable {
  state_hash: string
  provider: string
  /** hash of the browser-binding cookie of /authorize */
  browser_hash: string
  /** nonce, PKCE verifier and the pending authorization request's id, sealed (AES-256-GCM) with a key derived from the state */
  sealed: string
  created_at: number
  expires_at: number
}

export interface Database {
  users: UsersTable
  sessions: SessionsTable
  refresh_tokens: RefreshTokensTable
  signing_keys: SigningKeysTable
  items: ItemsTable
  login_failures: LoginFailuresTable
  email_tokens: EmailTokensTable
  mail_outbox: MailOutboxTable
  mail_requests: MailRequestsTable
  audit_events: AuditEventsTable
  webhook_deliveries: WebhookDeliveriesTable
  user_totp: UserTotpTable
  recovery_codes: RecoveryCodesTable
  mfa_challenges: MfaChallengesTable
  oauth_clients: OAuthClientsTable
  authorization_requests: AuthorizationRequestsTable
  authorization_codes: AuthorizationCodesTable
  user_identities: UserIdentitiesTable
  social_login_states: SocialLoginStatesTable
}
