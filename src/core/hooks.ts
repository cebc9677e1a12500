import { PolicyError } from '../errors.js'
import type { UserPublic } from '../schemas/user.js'

/**
 * Extra claims of every access token, typed by the app by declaration merging, as `FastifyJWT`
 * types `request.user`:
 *
 *   declare module 'fastify-oauth2-jwt' { interface AuthTokenClaims { tenant: string } }
 */
export interface AuthTokenClaims {}

/**
 * The app's own fields on the user (the `userMetadata` schema's type), by declaration merging:
 *
 *   declare module 'fastify-oauth2-jwt' { interface AuthUserMetadata { tenant: string } }
 */
export interface AuthUserMetadata {}

/** The public user as hooks see it: `metadata` typed by the app's AuthUserMetadata. */
export type HookUser = Omit<UserPublic, 'metadata'> & { metadata: AuthUserMetadata }

/** The claims a hook may not set: RFC 7519's and RFC 9068's, and this server's own. */
export const RESERVED_CLAIMS: ReadonlySet<string> = new Set(['iss', 'sub', 'aud', 'exp', 'iat', 'nbf', 'jti', 'scope', 'sid', 'client_id', 'amr', 'typ', 'cnf', 'auth_time', 'acr'])

/** Where a user is being created from. */
export type UserOrigin = 'register' | 'cli' | 'import' | 'first-superuser' | 'social'

/**
 * What an app plugs into the core (the plugin's `hooks` option). The names follow better-auth's
 * and Supabase's; README "Extending" lists the fastapi-users `UserManager` methods they replace.
 */
export interface AuthHooks {
  /**
   * Before a user is stored, on every path that creates one (`/register`, the CLI, each imported
   * row, FIRST_SUPERUSER, social login). Throw to refuse: the error's message becomes the 400 (the import's
   * row error), and nothing is stored.
   */
  beforeUserCreated?: (user: { username: string, email: string | null, full_name: string | null, metadata: AuthUserMetadata | undefined, origin: UserOrigin }) => unknown
  /**
   * Extra claims for an access token, at login and at every refresh. A reserved claim
   * (RESERVED_CLAIMS) is refused: the token is not issued (500, logged).
   */
  accessTokenClaims?: (input: { user: HookUser, session: { id: string, client_id: string }, scopes: readonly string[] }) => AuthTokenClaims | undefined | Promise<AuthTokenClaims | undefined>
}

/**
 * Runs `beforeUserCreated`: a refusal (anything it throws) becomes a PolicyError with its message.
 * @throws PolicyError
 */
export async function runBeforeUserCreated (hooks: AuthHooks, user: Parameters<NonNullable<AuthHooks['beforeUserCreated']>>[0]): Promise<void> {
  if (hooks.beforeUserCreated === undefined) return
  try {
    await hooks.beforeUserCreated(user)
  } catch (error) {
    const message = error instanceof Error && error.message !== '' ? error.message : 'Refused'
    throw new PolicyError(message)
  }
}

/**
 * The extra claims of `accessTokenClaims`, checked: a plain object without reserved claims.
 * @throws Error naming the reserved claim (an app's bug: the token is not issued)
 */
export async function extraClaims (hooks: AuthHooks, input: { user: UserPublic, session: { id: string, client_id: string }, scopes: readonly string[] }): Promise<Record<string, unknown> | undefined> {
  if (hooks.accessTokenClaims === undefined) return undefined
  const claims: unknown = await hooks.accessTokenClaims(input as Parameters<NonNullable<AuthHooks['accessTokenClaims']>>[0])
  if (claims === undefined || claims === null) return undefined
  if (typeof claims !== 'object' || Array.isArray(claims)) throw new TypeError('accessTokenClaims must return an object of claims')
  const reserved = Object.keys(claims).filter(name => RESERVED_CLAIMS.has(name))
  if (reserved.length > 0) throw new Error(`accessTokenClaims may not set reserved claims: ${reserved.join(', ')}`)
  return claims as Record<string, unknown>
}
