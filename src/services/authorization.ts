import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { DomainError, InvalidGrantError, InvalidRequestError, MfaRequiredError } from '../errors.js'
import { hashToken } from '../identifiers.js'
import type { AuthorizationRequestRecord, AuthorizationStore, UserStore } from '../stores/auth-store.js'
import type { UserRecord } from '../schemas/user.js'
import { parseAmr, type LoginPipeline, type LoginResult } from './login.js'
import type { MfaService } from './mfa.js'
import type { ClientRegistry, RegisteredClient } from './oauth-clients.js'
import { grantScopes, parseScope, type ScopeRegistry } from './scopes.js'
import type { SessionService } from './sessions.js'

/** An authorization code lives this long (RFC 6749 §4.1.2: short; the contract: 60 seconds). */
export const CODE_TTL_MS = 60_000
/** A pending authorization request (the login page) lives this long. */
export const REQUEST_TTL_MS = 10 * 60_000
/** RFC 7636 §4.2: S256 of a 43–128 character verifier is 43 base64url characters. */
const CHALLENGE = /^[A-Za-z0-9_-]{43}$/
/** RFC 7636 §4.1: the verifier's alphabet and length. */
const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/

/** The query of GET /authorize (RFC 6749 §4.1.1, RFC 7636 §4.3): every parameter a string or absent. */
export interface AuthorizationQuery {
  response_type?: string
  client_id?: string
  redirect_uri?: string
  scope?: string
  state?: string
  code_challenge?: string
  code_challenge_method?: string
}

/**
 * A refusal of the authorization endpoint that must not be redirected (RFC 6749 §4.1.2.1): the
 * client is unknown or the redirect URI is not one of its registered ones, or the pending request
 * is gone or belongs to another browser. Shown to the user on a page with `statusCode`.
 */
export class AuthorizationPageError extends DomainError {
  override name = 'AuthorizationPageError'
  override readonly code = 'AUTH_AUTHORIZATION_REFUSED'
  constructor (message: string, override readonly statusCode: 400 | 403 = 400) {
    super(message)
  }
}

/** What the endpoint answers next: a redirect to the client, the login page, or the consent page. */
export type AuthorizationStep =
  | { kind: 'redirect', location: string }
  | { kind: 'login', requestId: string, client: RegisteredClient, scopes: string[] }
  | { kind: 'consent', requestId: string, client: RegisteredClient, scopes: string[] }
  /** the user has TOTP: the code page, whose form proves `mfaToken` (POST /authorize/mfa) */
  | { kind: 'second_factor', requestId: string, client: RegisteredClient, mfaToken: string }

/** base64url(SHA-256(verifier)) = challenge (RFC 7636 §4.6), compared in constant time. */
export function pkceMatches (verifier: string, challenge: string): boolean {
  if (!VERIFIER.test(verifier) || !CHALLENGE.test(challenge)) return false
  const expected = Buffer.from(challenge)
  const actual = Buffer.from(createHash('sha256').update(verifier).digest('base64url'))
  return expected.length === actual.length && timingSafeEqual(expected, actual)
}

/**
 * `redirect_uri` with `params` appended to its query (RFC 6749 §4.1.2: its own query is kept as
 * registered, byte for byte: URLSearchParams would re-serialise it, `?a` becoming `?a=`).
 */
function withParams (redirectUri: string, params: Record<string, string | null | undefined>): string {
  const url = new URL(redirectUri)
  const added = new URLSearchParams()
  for (const [name, value] of Object.entries(params)) if (value != null) added.append(name, value)
  const own = url.search.slice(1)
  url.search = own === '' ? added.toString() : `${own}&${added.toString()}`
  return url.href
}

/**
 * The authorization endpoint's rules (RFC 6749 §4.1, RFC 7636, RFC 9207, RFC 9700 §2.1), free of
 * Fastify: the request checked against the registered client (an unknown client or redirect URI
 * is an AuthorizationPageError, every other error a redirect with `error`, `state` and `iss`),
 * kept server-side under a random id bound to the browser, the password through the login
 * pipeline (its checks included), consent for clients that are not first-party, then a code:
 * random (256 bits), stored only as a hash, single use, 60 seconds, bound to client, redirect
 * URI, PKCE challenge, user and scope. `redeem` is grant_type=authorization_code's work.
 * `browser` is the value of the browser's binding cookie (the route sets it).
 */
export function createAuthorizationService (deps: {
  store: AuthorizationStore
  users: UserStore
  clients: ClientRegistry
  login: LoginPipeline
  mfa: MfaService
  sessions: SessionService
  scopes: ScopeRegistry
  /** `iss` of every answer (RFC 9207): the tokens' issuer */
  issuer: string
}) {
  const { store, users, clients, login, mfa, sessions, scopes, issuer } = deps

  /** An error answer to the client (RFC 6749 §4.1.2.1), with `state` and `iss`. */
  const errorRedirect = (redirectUri: string, state: string | null | undefined, error: string, description: string): AuthorizationStep =>
    ({ kind: 'redirect', location: withParams(redirectUri, { error, error_description: description, state, iss: issuer }) })

  /**
   * The scopes to grant: asked ones, within the client's and the user's. Asking none means all the
   * client may ask, except that a third-party client registered without `scopes` gets no
   * admin-only scope unless it names one (shown on the consent page): an admin who approves an
   * app's default request does not hand it `admin`.
   */
  function scopesFor (client: RegisteredClient, requested: string | null, user?: UserRecord): string[] | undefined {
    const forClient = client.scopes ?? scopes.names
    const available = user === undefined ? forClient : scopes.allowedFor(user).filter(s => forClient.includes(s))
    const asked = parseScope(requested ?? undefined)
    if (asked.length === 0 && client.scopes == null && !client.first_party) {
      return available.filter(s => scopes.definitions[s]?.adminOnly !== true)
    }
    return grantScopes(asked, available)
  }

  /** The pending request of this id, if this browser opened it. @throws AuthorizationPageError */
  async function pending (requestId: string | undefined, browser: string | undefined) {
    const record = requestId === undefined || requestId === '' ? undefined : await store.findRequest(hashToken(requestId))
    if (record === undefined || record.expires_at <= Date.now()) throw new AuthorizationPageError('This login page has expired. Go back to the application and start again.')
    if (browser === undefined || hashToken(browser) !== record.browser_hash) throw new AuthorizationPageError('This login was started in another browser, or your browser refused its cookie. Go back to the application and start again.', 403)
    const client = await clients.find(record.client_id)
    if (client === undefined) throw new AuthorizationPageError('The application is no longer registered.')
    return { record, client }
  }

  /** Takes the request (single use) and answers the client with a new code. */
  async function issueCode (record: AuthorizationRequestRecord, userId: string, granted: string[], amr: string[]): Promise<AuthorizationStep> {
    if (await store.takeRequest(record.id_hash) === undefined) throw new AuthorizationPageError('This login page was used already. Go back to the application and start again.')
    const code = randomBytes(32).toString('base64url')
    const now = Date.now()
    await store.createCode({
      code_hash: hashToken(code),
      client_id: record.client_id,
      redirect_uri: record.redirect_uri,
      code_challenge: record.code_challenge,
      user_id: userId,
      scope: granted.join(' '),
      created_at: now,
      expires_at: now + CODE_TTL_MS,
      used_at: null,
      reused_at: null,
      session_id: null,
      amr: JSON.stringify(amr)
    })
    return { kind: 'redirect', location: withParams(record.redirect_uri, { code, state: record.state, iss: issuer }) }
  }

  /**
   * After the user proved who they are (password, second factor): the scopes this user may grant,
   * then a code for a first-party client, or the consent page for another (the user kept on the
   * pending request until consent).
   */
  async function continueAs (record: AuthorizationRequestRecord, client: RegisteredClient, requestId: string, user: UserRecord, amr: string[]): Promise<AuthorizationStep> {
    const granted = scopesFor(client, record.scope, user)
    if (granted === undefined) {
      await store.takeRequest(record.id_hash)
      return errorRedirect(record.redirect_uri, record.state, 'invalid_scope', 'a requested scope is not available to this user')
    }
    if (client.first_party) return await issueCode(record, user.id, granted, amr)
    if (!await store.setRequestUser(record.id_hash, user.id, JSON.stringify(amr))) throw new AuthorizationPageError('This login page has expired. Go back to the application and start again.')
    return { kind: 'consent', requestId, client, scopes: granted }
  }

  return {
    /**
     * GET /authorize: checks the request and keeps it (the login page's next step), or answers an
     * error to the client's redirect URI. @throws AuthorizationPageError (never redirected)
     */
    async begin (query: AuthorizationQuery, browser: string): Promise<AuthorizationStep> {
      if (query.client_id === undefined || query.client_id === '') throw new AuthorizationPageError('The request names no application (client_id is missing).')
      const client = await clients.find(query.client_id)
      if (client === undefined) throw new AuthorizationPageError('The application that sent you here is not registered.')
      if (query.redirect_uri === undefined || query.redirect_uri === '') throw new AuthorizationPageError('The request has no redirect_uri.')
      // Exact string comparison (RFC 9700 §4.1.3): no normalisation, no prefix, no pattern.
      if (!client.redirect_uris.includes(query.redirect_uri)) throw new AuthorizationPageError('The redirect_uri is not registered for this application.')
      const redirectUri = query.redirect_uri
      const state = query.state
      if (query.response_type === undefined) return errorRedirect(redirectUri, state, 'invalid_request', 'response_type is required')
      if (query.response_type !== 'code') return errorRedirect(redirectUri, state, 'unsupported_response_type', 'only response_type=code is supported')
      // RFC 9700 §2.1.1: PKCE for every client, S256 only (no downgrade to plain).
      if (query.code_challenge_method !== 'S256') return errorRedirect(redirectUri, state, 'invalid_request', 'code_challenge_method=S256 is required (plain is not supported)')
      if (query.code_challenge === undefined || !CHALLENGE.test(query.code_challenge)) return errorRedirect(redirectUri, state, 'invalid_request', 'code_challenge is required: 43 base64url characters (S256)')
      const granted = scopesFor(client, query.scope ?? null)
      if (granted === undefined) return errorRedirect(redirectUri, state, 'invalid_scope', 'a requested scope is unknown or not allowed for this application')
      const requestId = randomBytes(32).toString('base64url')
      const now = Date.now()
      await store.createRequest({
        id_hash: hashToken(requestId),
        browser_hash: hashToken(browser),
        client_id: client.client_id,
        redirect_uri: redirectUri,
        scope: query.scope === undefined || query.scope === '' ? null : query.scope,
        state: state ?? null,
        code_challenge: query.code_challenge,
        user_id: null,
        amr: null,
        created_at: now,
        expires_at: now + REQUEST_TTL_MS
      })
      return { kind: 'login', requestId, client, scopes: granted }
    },

    /** The login page's client and scopes again (to show it anew after a refusal). @throws AuthorizationPageError */
    async describe (requestId: string | undefined, browser: string | undefined) {
      const { record, client } = await pending(requestId, browser)
      return { client, scopes: scopesFor(client, record.scope) ?? [] }
    },

    /**
     * POST /authorize: the password and every login check (the pipeline's `authenticate`), then a
     * code for a first-party client, or the consent page for another.
     * @throws AuthorizationPageError, and the pipeline's InvalidGrantError, LoginLockedError, OverloadedError, a check's error
     */
    async login (requestId: string | undefined, browser: string | undefined, credentials: { username: string, password: string, form: Record<string, string | undefined>, userAgent?: string, ip?: string }): Promise<AuthorizationStep> {
      const { record, client } = await pending(requestId, browser)
      try {
        const { user, amr } = await login.authenticate({ ...credentials, scope: record.scope ?? undefined, clientId: client.client_id })
        return await continueAs(record, client, requestId!, user, amr)
      } catch (error) {
        // The password was right and the account has TOTP: the code page, with its mfa_token.
        if (error instanceof MfaRequiredError) return { kind: 'second_factor', requestId: requestId!, client, mfaToken: error.mfaToken }
        throw error
      }
    },

    /**
     * The pending request completed for a user authenticated elsewhere (social login): the login
     * checks that do not need the password (a disabled user refused; REQUIRE_VERIFIED_EMAIL; a
     * second factor, whose code page then follows with the challenge remembering `amr`), then the
     * same path as `login` after the password (continueAs): a code for a first-party client, else
     * consent.
     * @throws AuthorizationPageError, InvalidGrantError (disabled), a check's error
     */
    async completeExternal (requestId: string, browser: string | undefined, user: UserRecord, amr: string[], context: { userAgent?: string, ip?: string } = {}): Promise<AuthorizationStep> {
      const { record, client } = await pending(requestId, browser)
      try {
        await login.admitExternal({ user, amr, scope: record.scope ?? undefined, clientId: client.client_id, ...context })
      } catch (error) {
        if (error instanceof MfaRequiredError) return { kind: 'second_factor', requestId, client, mfaToken: error.mfaToken }
        throw error
      }
      return await continueAs(record, client, requestId, user, amr)
    },

    /**
     * POST /authorize/mfa: the second step for a user with TOTP, after the password's MfaRequiredError
     * (its `mfa_token`, bound to this client and scope): a 6-digit code or a recovery code proves
     * the challenge (5 wrong codes spend it; each counts toward the account's lock), the login's
     * checks run again, then as after the password: a code or the consent page.
     * @throws AuthorizationPageError, InvalidGrantError ('mfa': a wrong code, a spent or foreign mfa_token), LoginLockedError, OverloadedError
     */
    async secondFactor (requestId: string | undefined, browser: string | undefined, input: { mfaToken: string, code: string, userAgent?: string, ip?: string }): Promise<AuthorizationStep> {
      const { record, client } = await pending(requestId, browser)
      const context = { client_id: client.client_id, user_agent: input.userAgent ?? null, ip: input.ip ?? null }
      const kind = /^[0-9]{6}$/.test(input.code) ? 'otp' : 'recovery_code'
      const proven = await mfa.proveChallenge({ mfaToken: input.mfaToken, code: input.code, kind, clientId: client.client_id, scope: record.scope ?? '', context })
      const { user, amr } = await login.authenticateSecondFactor({ ...proven, userAgent: input.userAgent, ip: input.ip })
      return await continueAs(record, client, requestId!, user, amr)
    },

    /** POST /authorize/consent: the user allows (a code) or denies (`access_denied`). @throws AuthorizationPageError */
    async consent (requestId: string | undefined, browser: string | undefined, allow: boolean): Promise<AuthorizationStep> {
      const { record, client } = await pending(requestId, browser)
      if (record.user_id === null) throw new AuthorizationPageError('Log in first.')
      if (!allow) {
        await store.takeRequest(record.id_hash)
        return errorRedirect(record.redirect_uri, record.state, 'access_denied', 'the user denied the request')
      }
      const user = await users.findById(record.user_id)
      const granted = user === undefined || user.disabled ? undefined : scopesFor(client, record.scope, user)
      if (granted === undefined) {
        await store.takeRequest(record.id_hash)
        return errorRedirect(record.redirect_uri, record.state, 'access_denied', 'the user cannot grant this request')
      }
      return await issueCode(record, record.user_id, granted, parseAmr(record.amr))
    },

    /**
     * grant_type=authorization_code (RFC 6749 §4.1.3, RFC 7636 §4.5): the code is spent on its first
     * presentation, whatever follows; a spent code presented again ends the session its first use
     * started. The session starts through the login pipeline (`login.succeeded`, method
     * `authorization_code`). `client` is the authenticated (or public) client.
     * @throws InvalidRequestError, InvalidGrantError, InvalidScopeError
     */
    async redeem (input: { code?: string, redirectUri?: string, verifier?: string, client: RegisteredClient, userAgent?: string, ip?: string }): Promise<LoginResult> {
      if (!input.code || !input.redirectUri || !input.verifier) throw new InvalidRequestError('code, redirect_uri and code_verifier are required')
      const codeHash = hashToken(input.code)
      const now = Date.now()
      const used = await store.useCode(codeHash, now)
      if (used === undefined) throw new InvalidGrantError('authorization_code')
      const { code } = used
      if (!used.first) {
        // RFC 6749 §4.1.2: a code used twice revokes what it issued.
        if (code.session_id !== null) await sessions.end({ sessionId: code.session_id, userId: code.user_id }, 'reused')
        throw new InvalidGrantError('authorization_code')
      }
      const bound = code.expires_at > now && code.client_id === input.client.client_id && code.redirect_uri === input.redirectUri
      if (!bound || !pkceMatches(input.verifier, code.code_challenge)) throw new InvalidGrantError('authorization_code')
      const user = await users.findById(code.user_id)
      if (user === undefined || user.disabled) throw new InvalidGrantError('authorization_code')
      // The session's `amr` is the login page's (`pwd`, and `otp` when a second factor's check accepted one).
      const result = await login.startSession(user, { scope: code.scope, clientId: code.client_id, userAgent: input.userAgent, ip: input.ip, amr: parseAmr(code.amr) }, 'authorization_code')
      // A second use that came while this session started could not end it: it is ended here.
      const recorded = await store.setCodeSession(codeHash, result.session.id)
      if (recorded === undefined || recorded.reused_at !== null) {
        await sessions.end({ sessionId: result.session.id, userId: user.id }, 'reused')
        throw new InvalidGrantError('authorization_code')
      }
      return result
    },

    /** Deletes expired requests and codes (the core's hourly clean-up). */
    purge: () => store.purge(Date.now())
  }
}
export type AuthorizationService = ReturnType<typeof createAuthorizationService>
