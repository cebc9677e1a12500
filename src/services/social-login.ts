import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto'
import * as oauth from 'oauth4webapi'
import type { AuthEvents, EventContext } from '../core/events.js'
import { DuplicateIdentityError, DuplicateUserError, LastSignInMethodError, NotFoundError, SocialLoginError } from '../errors.js'
import { hashToken, identityKey, isEmailAddress, newId } from '../identifiers.js'
import type { UserRecord } from '../schemas/user.js'
import type { IdentityRecord, IdentityStore, UserStore } from '../stores/auth-store.js'
import type { ProviderRegistry, UpstreamIdentity, UpstreamProvider } from '../social/providers.js'
import type { AccountService } from './accounts.js'
import type { AuthorizationService, AuthorizationStep } from './authorization.js'
import { stringProblem } from '../text.js'
import { loginNameProblem } from './login-names.js'

/** A social login under way (the state at the provider) lives this long, as a pending authorization request does. */
export const SOCIAL_STATE_TTL_MS = 10 * 60_000
/**
 * What a social login proves, as the session's `amr`: authenticated by an external provider. Not
 * one of RFC 8176's registered values (none names federation); RFC 8176 §1 allows others.
 */
export const EXTERNAL_AMR = 'ext'

/** An identity as its owner sees it (GET /users/me/identities). */
export interface IdentityPublic {
  id: string
  provider: string
  subject: string
  email: string | null
  email_verified: boolean
  created_at: string
}

const toPublic = (identity: IdentityRecord): IdentityPublic => ({
  id: identity.id,
  provider: identity.provider,
  subject: identity.subject,
  email: identity.email,
  email_verified: identity.email_verified,
  created_at: new Date(identity.created_at).toISOString()
})

/** What is kept secret with a state: the pending request's id, the nonce and the PKCE verifier. */
interface Sealed { request: string, nonce: string, verifier: string }

/**
 * AES-256-GCM with a key derived from the state itself (SHA-256 of a label and the state): the
 * database holds only the state's hash (another derivation), so what it stores opens only for
 * the callback that carries the state.
 */
const sealKey = (state: string) => createHash('sha256').update('social-login-seal\0').update(state).digest()
function seal (state: string, value: Sealed): string {
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', sealKey(state), iv)
  const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()])
  return [iv, cipher.getAuthTag(), body].map(part => part.toString('base64url')).join('.')
}
function unseal (state: string, sealed: string): Sealed | undefined {
  try {
    const [iv, tag, body] = sealed.split('.').map(part => Buffer.from(part, 'base64url'))
    const decipher = createDecipheriv('aes-256-gcm', sealKey(state), iv!)
    decipher.setAuthTag(tag!)
    return JSON.parse(Buffer.concat([decipher.update(body!), decipher.final()]).toString('utf8')) as Sealed
  } catch {
    return undefined
  }
}

/**
 * The provider's identity with its e-mail only when it is an address as /register takes it
 * (the `email` format, at most 254 characters, no control characters): a provider's look-alike
 * (a Kelvin sign, a full-width @), a CRLF or a trailing dot is no address, so it is neither
 * stored nor used to link (it would match an account by its normalised key, or inject mail headers).
 */
export function withUsableEmail (upstream: UpstreamIdentity): UpstreamIdentity {
  const email = upstream.email
  if (email !== null && email.length <= 254 && stringProblem(email) === undefined && isEmailAddress(email)) return upstream
  return { ...upstream, email: null, email_verified: false }
}

/** A username from what the provider says: its login name, else the e-mail's local part, reduced to the allowed characters. */
export function usernameBase (upstream: Pick<UpstreamIdentity, 'login' | 'email'>): string {
  const source = upstream.login ?? upstream.email?.split('@')[0] ?? ''
  const reduced = source.normalize('NFKC').replace(/[^A-Za-z0-9_.-]+/g, '_').replace(/^[^A-Za-z0-9]+/, '').slice(0, 50)
  return reduced.length >= 3 && loginNameProblem(reduced) === undefined ? reduced : `user_${reduced}`.slice(0, 50).replace(/_$/, '') || 'user'
}

/**
 * Social login's rules (issue 23, CONTRACT "Authorization code with PKCE, and social login"),
 * free of Fastify:
 * - `begin`: for a pending authorization request opened by this browser, a state (256 bits),
 *   nonce and PKCE verifier (RFC 7636, S256) towards the provider, kept server-side under the
 *   state's hash (10 minutes, single use, bound to the browser's cookie and the request);
 * - `callback`: the state taken (unknown, used, expired → 400; another browser → 403), the
 *   provider's answer validated (providers.ts), then the account: (a) a linked identity
 *   (provider, subject) logs its user in; (b) else it is linked to the account with the same
 *   e-mail only when the provider and the account have both verified it; (c) an account with that
 *   e-mail but either side unverified is refused (a page: log in with the password, then link);
 *   (d) no such account: a user without a password is created (`user.created`, origin `social`,
 *   the app's hook, the identity in the same transaction). Disabled users are refused; then the
 *   pending request is completed (AuthorizationService.completeExternal): for a user with TOTP,
 *   the code page first.
 * - `list` / `unlink`: a user's identities, never removing the last way to log in.
 * Refusals are SocialLoginError (pages), the authorization service's AuthorizationPageError.
 */
export function createSocialLoginService (deps: {
  providers: ProviderRegistry
  store: IdentityStore | undefined
  users: UserStore
  accounts: AccountService
  authorization: AuthorizationService
  events: AuthEvents
  /** `<PUBLIC_URL or the issuer>`, without a trailing slash: the redirect URIs are `<base>/login/<id>/callback` */
  redirectBase: string | undefined
}) {
  const { providers, users, accounts, authorization, events, redirectBase } = deps

  function identities (): IdentityStore {
    if (deps.store === undefined) throw new SocialLoginError('Social login needs a store with identities.', 404)
    return deps.store
  }

  function providerOf (id: string): UpstreamProvider {
    const provider = providers.get(id)
    if (provider === undefined) throw new SocialLoginError('There is no such way to log in.', 404)
    return provider
  }

  /** The redirect URI registered at the provider (never taken from a request). */
  function redirectUri (id: string): string {
    if (redirectBase === undefined) throw new SocialLoginError('Social login needs PUBLIC_URL (or an http(s) issuer) to name its callback.', 404)
    return `${redirectBase}/login/${encodeURIComponent(id)}/callback`
  }

  /** A new user without a password for this identity (d), its username made unique. @throws SocialLoginError, PolicyError */
  async function createFor (provider: UpstreamProvider, upstream: UpstreamIdentity, context: EventContext): Promise<UserRecord> {
    const base = usernameBase(upstream)
    for (let attempt = 0; attempt < 5; attempt++) {
      const username = attempt === 0 ? base : `${base.slice(0, 55)}-${randomBytes(3).toString('hex')}`
      try {
        const created = await accounts.createUser({
          username,
          // Only an address the provider verified becomes the account's (its recovery address):
          // an unverified one would let whoever typed it at the provider pre-hijack the account
          // its owner later registers or resets. The identity keeps what the provider said.
          email: upstream.email_verified ? upstream.email : null,
          full_name: upstream.full_name,
          password_hash: null,
          email_verified: upstream.email_verified
        }, 'social', context, async (tx, user) => {
          await tx.identities!.insert({ id: newId(), user_id: user.id, provider: provider.id, subject: upstream.subject, email: upstream.email, email_verified: upstream.email_verified, created_at: Date.now() })
          return { ...context, type: 'identity.linked', user_id: user.id, data: { provider: provider.id, created_user: true } }
        })
        return (await users.findById(created.id))!
      } catch (error) {
        if (error instanceof DuplicateUserError && error.field === 'username') continue
        if (error instanceof DuplicateUserError || error instanceof DuplicateIdentityError) {
          throw new SocialLoginError('Another login created this account at the same moment. Go back to the application and start again.', 409)
        }
        throw error
      }
    }
    throw new SocialLoginError('No free username could be found for this account. Register with a password instead.', 409)
  }

  /** The user this identity logs in as: rules (a) to (d). @throws SocialLoginError */
  async function resolve (provider: UpstreamProvider, upstream: UpstreamIdentity, context: EventContext): Promise<UserRecord> {
    const store = identities()
    const linked = await store.find(provider.id, upstream.subject)
    if (linked !== undefined) {
      // (a) By (provider, subject) only: the address the provider gives now is recorded, never used to pick the account.
      if (linked.email !== upstream.email || linked.email_verified !== upstream.email_verified) await store.updateEmail(linked.id, upstream.email, upstream.email_verified)
      const user = await users.findById(linked.user_id)
      if (user === undefined) throw new SocialLoginError('This account no longer exists.', 403)
      return user
    }
    const local = upstream.email === null ? undefined : await users.findByLogin(upstream.email)
    const sameAddress = local?.email != null && upstream.email !== null && identityKey(local.email) === identityKey(upstream.email)
    if (local !== undefined) {
      // (b) Both sides verified the same address: link. (c) Anything else: refuse, never a second account with it.
      if (!(sameAddress && local.email_verified && upstream.email_verified)) {
        throw new SocialLoginError(`An account with the e-mail address that ${provider.name} gave already exists, and the address is not verified on both sides. Log in with that account's password instead.`, 409)
      }
      // Never linked by a login that cannot finish here: a disabled account, or one whose second
      // factor this provider would then stand in front of (link it while logged in, before TOTP).
      if (local.disabled) throw new SocialLoginError('This account is disabled.', 403)
      if (local.mfa_enabled === true) throw new SocialLoginError(`An account with the e-mail address that ${provider.name} gave already exists and has two-factor authentication on. Log in with its password and code instead.`, 409)
      try {
        await events.within(tx => tx.identities!.insert({ id: newId(), user_id: local.id, provider: provider.id, subject: upstream.subject, email: upstream.email, email_verified: upstream.email_verified, created_at: Date.now() }),
          () => ({ ...context, type: 'identity.linked', user_id: local.id, data: { provider: provider.id, created_user: false } }))
      } catch (error) {
        if (error instanceof DuplicateIdentityError) throw new SocialLoginError('Another login linked this account at the same moment. Go back to the application and start again.', 409)
        throw error
      }
      return local
    }
    // (d)
    return await createFor(provider, upstream, context)
  }

  return {
    /** The configured providers: the login page's buttons. */
    providers: () => providers.list(),

    /**
     * GET /login/{id}?request=…: the URL of the provider to send the browser to (303).
     * @throws SocialLoginError (404 unknown provider, 502 discovery failed), AuthorizationPageError (the pending request)
     */
    async begin (providerId: string, requestId: string | undefined, browser: string | undefined): Promise<URL> {
      const provider = providerOf(providerId)
      const store = identities()
      // The pending request must exist and be this browser's: else a page, before anything is stored.
      await authorization.describe(requestId, browser)
      const state = randomBytes(32).toString('base64url')
      const nonce = randomBytes(32).toString('base64url')
      const verifier = oauth.generateRandomCodeVerifier()
      const url = await provider.authorizationUrl({ redirectUri: redirectUri(provider.id), state, nonce, challenge: await oauth.calculatePKCECodeChallenge(verifier) })
      const now = Date.now()
      await store.createState({ state_hash: hashToken(state), provider: provider.id, browser_hash: hashToken(browser!), sealed: seal(state, { request: requestId!, nonce, verifier }), created_at: now, expires_at: now + SOCIAL_STATE_TTL_MS })
      return url
    },

    /**
     * GET /login/{id}/callback: `parameters` is the callback's query as the browser sent it. The
     * state is spent whatever follows. Resolves the authorization endpoint's next step (a redirect
     * to the client with a code, or its consent page).
     * @throws SocialLoginError, AuthorizationPageError, InvalidGrantError (disabled), a login check's error
     */
    async callback (providerId: string, parameters: URLSearchParams, browser: string | undefined, context: { userAgent?: string, ip?: string } = {}): Promise<AuthorizationStep> {
      const provider = providerOf(providerId)
      const state = parameters.get('state')
      const taken = state === null || state === '' ? undefined : await identities().takeState(hashToken(state))
      if (taken === undefined || state === null || taken.expires_at <= Date.now() || taken.provider !== provider.id) {
        throw new SocialLoginError('This sign-in has expired or was used already. Go back to the application and start again.')
      }
      if (browser === undefined || hashToken(browser) !== taken.browser_hash) {
        throw new SocialLoginError('This sign-in was started in another browser, or your browser refused its cookie. Go back to the application and start again.', 403)
      }
      const sealed = unseal(state, taken.sealed)
      if (sealed === undefined) throw new SocialLoginError('This sign-in has expired or was used already. Go back to the application and start again.')
      const upstream = withUsableEmail(await provider.identify({ parameters, state, nonce: sealed.nonce, verifier: sealed.verifier, redirectUri: redirectUri(provider.id) }))
      // The pending request must still be there before anything is created or linked.
      await authorization.describe(sealed.request, browser)
      const eventContext: EventContext = { ip: context.ip ?? null, user_agent: context.userAgent ?? null }
      const user = await resolve(provider, upstream, eventContext)
      if (user.disabled) throw new SocialLoginError('This account is disabled.', 403)
      // A user with TOTP gets the code page next (a `second_factor` step): the provider is the first factor only.
      return await authorization.completeExternal(sealed.request, browser, user, [EXTERNAL_AMR], context)
    },

    /** The user's identities, oldest first. */
    async list (userId: string): Promise<IdentityPublic[]> {
      return (await identities().listForUser(userId)).map(toPublic)
    },

    /**
     * Removes one of the user's identities (`identity.unlinked`), unless it is their last way to
     * log in (no password, no other identity). The check and the delete are one transaction, which
     * first writes the user's row (its lock on PostgreSQL), so two removals at once cannot each
     * see the other's identity and leave none.
     * @throws NotFoundError (unknown, or another user's), LastSignInMethodError
     */
    async unlink (userId: string, identityId: string, context: EventContext = {}): Promise<void> {
      identities()
      await events.within(async tx => {
        const user = await tx.users.update(userId, {})
        const mine = await tx.identities!.listForUser(userId)
        const target = mine.find(identity => identity.id === identityId)
        if (user === undefined || target === undefined) throw new NotFoundError('Identity')
        if (user.password_hash === null && mine.length <= 1) throw new LastSignInMethodError()
        await tx.identities!.delete(userId, identityId)
        return target
      }, target => ({ ...context, type: 'identity.unlinked', user_id: userId, actor_id: userId, data: { provider: target.provider } }))
    },

    /** Deletes social logins that expired (the core's hourly clean-up). */
    purge: async () => deps.store === undefined ? 0 : await deps.store.purgeStates(Date.now())
  }
}
export type SocialLoginService = ReturnType<typeof createSocialLoginService>
