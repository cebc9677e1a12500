import { DomainError } from '../errors.js'
import { hashToken, identityKey, newId, newRefreshToken } from '../identifiers.js'
import { accountNoticeMessage, resetPasswordMessage, verifyEmailMessage, type AccountNotice } from '../mail/templates.js'
import type { UserPublic, UserRecord } from '../schemas/user.js'
import type { EmailTokenOwner, EmailTokenPurpose, IssueTokenInput, MailStore, ResolvedRequest } from '../stores/mail-store.js'
import type { AuthEvents, EventContext } from '../core/events.js'
import type { AccountService } from './accounts.js'

/** A reset or verification token that is unknown, used, replaced by a newer one, or expired: one message for all. */
export class InvalidEmailTokenError extends DomainError {
  override name = 'InvalidEmailTokenError'
  override readonly code = 'AUTH_INVALID_EMAIL_TOKEN'
  constructor () {
    super('Invalid or expired token: it may have been used, or replaced by a newer one')
  }
}

export interface RecoverySettings {
  /** base of the links (PUBLIC_URL), without a trailing slash; the routes' prefix is added (linksAt) */
  publicUrl: string
  resetTokenTtlSeconds: number
  verifyTokenTtlSeconds: number
  /** per account and purpose: no second e-mail of a kind within this many seconds (0: none) */
  cooldownSeconds: number
}

/** Notices are worth sending for this long; after it the worker gives them up. */
const NOTICE_TTL_MS = 7 * 86_400_000

/**
 * Account recovery and e-mail verification, free of Fastify. A request never sends mail, nor
 * looks the address up: it queues one row, the same for every address, and the mail worker
 * resolves it into a token and its message (one transaction), which it then sends. Tokens are 256 random bits, stored as SHA-256, single use, and a newer one replaces
 * the older of the same user and purpose. Throws InvalidEmailTokenError and PolicyError.
 */
export function createRecoveryService (deps: { store: MailStore, accounts: AccountService, events: AuthEvents, settings: RecoverySettings }) {
  const { store, accounts, events, settings } = deps
  const publicUrl = settings.publicUrl.replace(/\/+$/, '')
  const cooldownMs = settings.cooldownSeconds * 1000
  /** Where the link pages are served: PUBLIC_URL plus the routes' prefix (see linksAt). */
  let linkBase = publicUrl

  /** A new token and its message for `purpose`, as the store's issue takes them. */
  function tokenAndMessage (purpose: EmailTokenPurpose, cooldown: boolean): Omit<IssueTokenInput, 'emailKey' | 'purpose'> {
    const token = newRefreshToken()
    const now = Date.now()
    const ttl = purpose === 'reset' ? settings.resetTokenTtlSeconds : settings.verifyTokenTtlSeconds
    const message = purpose === 'reset'
      ? resetPasswordMessage(`${linkBase}/reset-password?token=${token}`, ttl)
      : verifyEmailMessage(`${linkBase}/verify?token=${token}`, ttl)
    return { tokenHash: hashToken(token), messageId: newId(), message, now, expiresAt: now + ttl * 1000, cooldownMs: cooldown ? cooldownMs : 0 }
  }

  /**
   * The account a token is for, while the token still applies: the account exists, still has the
   * address the token was sent to (a link to a former address does nothing) and, unless `disabled`
   * is allowed, is active.
   */
  async function ownerOf (token: EmailTokenOwner | undefined, allow: { disabled?: boolean } = {}): Promise<UserRecord | undefined> {
    if (token === undefined) return undefined
    const user = await accounts.record(token.userId)
    if (user === undefined || user.email === null || identityKey(user.email) !== identityKey(token.email)) return undefined
    return user.disabled && allow.disabled !== true ? undefined : user
  }

  /** Queues a request: one row whatever the address (the worker resolves it: resolveRequests). */
  async function request (email: string, purpose: EmailTokenPurpose): Promise<void> {
    await store.requests.add({ id: newId(), emailKey: identityKey(email), purpose, now: Date.now() })
  }

  return {
    /**
     * Where the recovery routes are mounted (their prefix, '' at the root): the links in e-mails
     * point there. A PUBLIC_URL that already ends with the prefix is kept as it is.
     */
    linksAt (prefix: string): void {
      const path = prefix.replace(/\/+$/, '')
      linkBase = path === '' || new URL(publicUrl).pathname.replace(/\/+$/, '').endsWith(path) ? publicUrl : publicUrl + path
    },

    /**
     * Queues the notice of a sensitive change to `to` (the account's address before the change).
     * Needs a store with `outbox.enqueue`; without one it does nothing.
     */
    async notify (to: string, notice: AccountNotice): Promise<void> {
      if (store.outbox.enqueue === undefined) return
      const now = Date.now()
      await store.outbox.enqueue({ id: newId(), recipient: to, message: accountNoticeMessage(notice, new URL(publicUrl).host, new Date(now)), now, expiresAt: now + NOTICE_TTL_MS })
    },

    /** Lifts the e-mail cooldowns of this user (users unlock): the next request sends at once. */
    async clearCooldown (userId: string): Promise<void> {
      await store.tokens.clearCooldown?.(userId, Date.now(), cooldownMs)
    },

    /**
     * POST /forgot-password: queues the request; a reset link goes to the active account with this
     * address, if there is one and it was not sent one within the cooldown (resolveRequests).
     */
    requestPasswordReset: (email: string) => request(email, 'reset'),

    /** POST /request-verify-token: queued; a verification link to the account with this unverified address, if any. */
    requestVerification: (email: string) => request(email, 'verify'),

    /**
     * Resolves queued requests, oldest first, at most `limit`: each becomes a token and its
     * message, or nothing (no such account, or the cooldown). The mail worker runs it before each
     * send. Resolves what it did, for the log.
     */
    async resolveRequests (limit: number): Promise<ResolvedRequest[]> {
      const done: ResolvedRequest[] = []
      for (let i = 0; i < limit; i++) {
        const resolved = await store.requests.resolveNext(({ purpose }) => tokenAndMessage(purpose, true))
        if (resolved === undefined) break
        if (resolved.userId !== undefined && resolved.purpose === 'verify') await events.record({ type: 'email.verification_sent', user_id: resolved.userId })
        done.push(resolved)
      }
      return done
    },

    /** A verification link to a user's new address (registration, change), at once, without cooldown. */
    async sendVerification (user: UserRecord): Promise<void> {
      if (user.email === null) return
      const issued = await store.tokens.issue({ emailKey: identityKey(user.email), purpose: 'verify', ...tokenAndMessage('verify', false) })
      if (issued !== undefined) await events.record({ type: 'email.verification_sent', user_id: issued })
    },

    /** Whether a token is live (for the page its link opens); consumes nothing. */
    async isLive (token: string, purpose: EmailTokenPurpose): Promise<boolean> {
      return await ownerOf(await store.tokens.findLive(hashToken(token), purpose, Date.now())) !== undefined
    },

    /**
     * POST /reset-password: the password policy, then the token is used and the password set
     * through the accounts service's one door (every session ends, other reset links die, the
     * address counts as verified, the login lock ends). A refused password leaves the token usable.
     * @throws InvalidEmailTokenError, PolicyError
     */
    async resetPassword (token: string, password: string, context: EventContext = {}): Promise<UserPublic> {
      const tokenHash = hashToken(token)
      const user = await ownerOf(await store.tokens.findLive(tokenHash, 'reset', Date.now()))
      if (user === undefined) throw new InvalidEmailTokenError()
      const passwordHash = await accounts.hashNewPassword(password, user.username)
      // Used meanwhile by a racing request, or the account changed since: refused.
      const owner = await ownerOf(await store.tokens.consume(tokenHash, 'reset', Date.now()))
      if (owner === undefined) throw new InvalidEmailTokenError()
      return accounts.toPublic(await accounts.setPassword(owner.id, passwordHash, { reason: 'reset', context }))
    },

    /** POST /verify: marks the address the token was sent to verified. @throws InvalidEmailTokenError */
    async verifyEmail (token: string, context: EventContext = {}): Promise<UserPublic> {
      const owner = await ownerOf(await store.tokens.consume(hashToken(token), 'verify', Date.now()), { disabled: true })
      if (owner === undefined) throw new InvalidEmailTokenError()
      return accounts.markEmailVerified(owner.id, context)
    }
  }
}
export type RecoveryService = ReturnType<typeof createRecoveryService>
