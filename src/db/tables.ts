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

export interface MailOutboxTable {
  id: string
  recipient: string
  subject: string
  /** the body, erased once the message is sent or given up (it carries a token) */
  text: string
  html: string | null
  created_at: number
  /** not sent after this (the link in it has expired) */
  expires_at: number | null
  attempts: number
  next_attempt_at: number
  /** a worker's claim: others leave the message alone until then */
  claimed_until: number | null
  claimed_by: string | null
  sent_at: number | null
  /** given up: refused by the mail server, expired, or out of attempts */
  failed_at: number | null
  last_error: string | null
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
  scope: string | null
  state: string | null
  code_challenge: string
  user_id: string | null
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
  oauth_clients: OAuthClientsTable
  authorization_requests: AuthorizationRequestsTable
  authorization_codes: AuthorizationCodesTable
}
