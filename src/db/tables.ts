/*
 * The tables as the SQL layer sees them (the "table model" layer; the API shapes are the
 * TypeBox schemas in src/schemas). Times are epoch milliseconds and flags are 0/1 integers,
 * so SQLite and PostgreSQL return the same values through the same queries.
 */
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
}

export interface RefreshTokensTable {
  /** SHA-256 of the token: the token itself is never stored */
  token_hash: string
  session_id: string
  created_at: number
  used_at: number | null
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
  /** start of the counting window (epoch ms) */
  window_start: number
  /** password logins of this key are refused until then (epoch ms) */
  locked_until: number | null
}

export interface Database {
  users: UsersTable
  sessions: SessionsTable
  refresh_tokens: RefreshTokensTable
  signing_keys: SigningKeysTable
  items: ItemsTable
  login_failures: LoginFailuresTable
}
