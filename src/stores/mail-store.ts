import type { Selectable } from 'kysely'
import type { MailOutboxTable } from '../db/tables.js'

/*
 * The storage of e-mail recovery and verification, as interfaces: one-time tokens and the
 * outbox of messages that carry them. A token and its message are written in one transaction,
 * so neither exists without the other. The SQL implementation is createSqlMailStore.
 */

export type EmailTokenPurpose = 'reset' | 'verify'

/** A rendered message (src/mail/templates.ts). */
export interface MailContent {
  subject: string
  text: string
  html: string | null
}

export type OutboxRecord = Selectable<MailOutboxTable>
/** A row of the outbox without its body, for listings. */
export type OutboxSummary = Omit<OutboxRecord, 'text' | 'html'>

export interface IssueTokenInput {
  /** identityKey() of the address asked for */
  emailKey: string
  purpose: EmailTokenPurpose
  tokenHash: string
  /** the id of the queued message (also its Message-ID) */
  messageId: string
  message: MailContent
  now: number
  expiresAt: number
  /**
   * Mail of this purpose sent to the account less than this long ago (ms) means none now: the
   * limit is on mail actually sent, per account and purpose (0: none). Asking never blocks the
   * other purpose, and never replaces a link already sent within the cooldown.
   */
  cooldownMs: number
}

/** What the recovery service makes of a queued request: a token, its message and how long it lives. */
export type IssueFor = (request: { emailKey: string, purpose: EmailTokenPurpose }) => Omit<IssueTokenInput, 'emailKey' | 'purpose'>

/** A request that was resolved: the user a token was issued for (undefined: no such account, or in cooldown). */
export interface ResolvedRequest { purpose: EmailTokenPurpose, userId: string | undefined, requestedAt: number }

/**
 * /forgot-password and /request-verify-token as they arrive: one row whatever the address, so
 * the request's time tells nothing (ASVS 6.3.8); the worker resolves them afterwards.
 */
export interface MailRequestStore {
  add (request: { id: string, emailKey: string, purpose: EmailTokenPurpose, now: number }): Promise<void>
  /**
   * Takes the oldest queued request and resolves it as `issue` would, in one transaction (a crash
   * loses none, two instances never take the same one); undefined when none is queued.
   */
  resolveNext (issueFor: IssueFor): Promise<ResolvedRequest | undefined>
}

/** Whose a token is: the user, and the address it was sent to (it must still be theirs when used). */
export interface EmailTokenOwner { userId: string, email: string }

export interface EmailTokenStore {
  /**
   * In one transaction, for the active account whose address is `emailKey` (for 'verify', one
   * not yet verified): drops its unused tokens of this purpose (a newer one replaces them),
   * stores the new token and queues the message to the account's address. The same statements
   * run whether or not such an account exists, so the time taken tells nothing.
   * @returns the id of the user a token was issued for, or undefined
   */
  issue (input: IssueTokenInput): Promise<string | undefined>
  /** An unused, unexpired token of this purpose: whose it is and the address it was sent to; consumes nothing. */
  findLive (tokenHash: string, purpose: EmailTokenPurpose, now: number): Promise<EmailTokenOwner | undefined>
  /**
   * Uses a live token of this purpose atomically (of two racing uses, one wins). Undefined for a
   * token that is not live. What the token does (a password, a verified address) is the
   * accounts service's to write: this store keeps only tokens and the outbox.
   */
  consume (tokenHash: string, purpose: EmailTokenPurpose, now: number): Promise<EmailTokenOwner | undefined>
  /**
   * Lifts the cooldown of every purpose for this user (an admin's unlock): the next request
   * sends at once. Links already sent stay valid. Optional for stores written before it.
   */
  clearCooldown? (userId: string, now: number, cooldownMs: number): Promise<void>
  /** Deletes tokens that expired before `before`. */
  purge (before: number): Promise<number>
}

/** A message that carries no token (a notice), queued as it is. */
export interface QueuedMessage {
  id: string
  recipient: string
  message: MailContent
  now: number
  /** when it stops being worth sending (epoch ms), or null */
  expiresAt: number | null
}

export interface OutboxStore {
  /** Queues a message without a token (the notice of a change). Optional for stores written before it. */
  enqueue? (message: QueuedMessage): Promise<void>
  /**
   * Claims up to `limit` due messages (unsent, not given up, next attempt reached, no live claim)
   * for `claimId` until `now + leaseMs`, counting the attempt. Two workers never hold a claim
   * on one message at once, whichever instance they run in.
   */
  claim (claimId: string, now: number, leaseMs: number, limit: number): Promise<OutboxRecord[]>
  /** Marks a message this claim holds sent, and erases its body (it carries a token). False if the claim was lost. */
  sent (id: string, claimId: string, now: number): Promise<boolean>
  /**
   * Records a failed attempt of a message this claim holds: retried from `retryAt`, or given up
   * (body erased) when `retryAt` is null. False if the claim was lost.
   */
  failed (id: string, claimId: string, error: string, retryAt: number | null, now: number): Promise<boolean>
  /** The newest messages first, without their bodies. */
  list (limit: number): Promise<OutboxSummary[]>
  /** Deletes messages sent or given up before `before`. */
  purge (before: number): Promise<number>
}

export interface MailStore {
  tokens: EmailTokenStore
  outbox: OutboxStore
  requests: MailRequestStore
}
