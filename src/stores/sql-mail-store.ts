import { PostgresAdapter, type Kysely } from 'kysely'
import { createClaimQueue } from '../db/claim-queue.js'
import type { Database } from '../db/tables.js'
import type { EmailTokenPurpose, EmailTokenStore, IssueTokenInput, MailRequestStore, MailStore, OutboxRecord, OutboxStore } from './mail-store.js'

/**
 * The active account with this address (for verification, one whose address is not verified yet)
 * that was not sent mail of this purpose within the cooldown: a token of the purpose created
 * after `since` means one was.
 */
function accountOf (db: Kysely<Database>, emailKey: string, purpose: EmailTokenPurpose, since: number) {
  let query = db.selectFrom('users').where('users.email_key', '=', emailKey).where('users.disabled', '=', 0)
  if (purpose === 'verify') query = query.where('users.email_verified', '=', 0)
  return query.where(eb => eb.not(eb.exists(eb.selectFrom('email_tokens as recent').select('recent.token_hash')
    .whereRef('recent.user_id', '=', 'users.id').where('recent.purpose', '=', purpose).where('recent.created_at', '>', since))))
}

/**
 * EmailTokenStore.issue's statements, in the caller's transaction: for the account (see accountOf)
 * drop its unused tokens of the purpose, store the new one and queue its message; the same
 * statements, writing nothing, when there is no such account.
 */
async function issueIn (trx: Kysely<Database>, { emailKey, purpose, tokenHash, messageId, message, now, expiresAt, cooldownMs }: IssueTokenInput): Promise<string | undefined> {
  // Within the cooldown nothing happens: the link already sent stays the live one.
  const since = cooldownMs > 0 ? now - cooldownMs : now
  await trx.deleteFrom('email_tokens')
    .where('purpose', '=', purpose).where('used_at', 'is', null)
    .where('user_id', 'in', accountOf(trx, emailKey, purpose, since).select('users.id'))
    .execute()
  // INSERT … SELECT: a row only when the account exists, with the same statements either way.
  // Values are cast so that PostgreSQL knows the parameters' types inside the SELECT.
  const issued = await trx.insertInto('email_tokens')
    .columns(['token_hash', 'user_id', 'purpose', 'email', 'created_at', 'expires_at'])
    .expression(accountOf(trx, emailKey, purpose, since).select(eb => [
      eb.cast<string>(eb.val(tokenHash), 'text').as('token_hash'),
      'users.id as user_id',
      eb.cast<EmailTokenPurpose>(eb.val(purpose), 'text').as('purpose'),
      eb.fn.coalesce('users.email', eb.val('')).as('email'),
      eb.cast<number>(eb.val(now), 'bigint').as('created_at'),
      eb.cast<number>(eb.val(expiresAt), 'bigint').as('expires_at')
    ]))
    .returning('user_id')
    .executeTakeFirst()
  // The message goes to the address the token was issued for, and exists exactly when the token does.
  await trx.insertInto('mail_outbox')
    .columns(['id', 'recipient', 'subject', 'text', 'html', 'created_at', 'expires_at', 'attempts', 'next_attempt_at'])
    .expression(trx.selectFrom('email_tokens').select(eb => [
      eb.cast<string>(eb.val(messageId), 'text').as('id'),
      'email_tokens.email as recipient',
      eb.cast<string>(eb.val(message.subject), 'text').as('subject'),
      eb.cast<string>(eb.val(message.text), 'text').as('text'),
      eb.cast<string | null>(eb.val(message.html), 'text').as('html'),
      eb.cast<number>(eb.val(now), 'bigint').as('created_at'),
      eb.cast<number>(eb.val(expiresAt), 'bigint').as('expires_at'),
      eb.cast<number>(eb.val(0), 'integer').as('attempts'),
      eb.cast<number>(eb.val(now), 'bigint').as('next_attempt_at')
    ]).where('email_tokens.token_hash', '=', tokenHash))
    .execute()
  return issued?.user_id
}

function tokenStore (db: Kysely<Database>): EmailTokenStore {
  /** Marks a live token of this purpose used; of two racing uses only one matches `used_at IS NULL`. */
  const claim = (trx: Kysely<Database>, tokenHash: string, purpose: EmailTokenPurpose, now: number) =>
    trx.updateTable('email_tokens').set({ used_at: now })
      .where('token_hash', '=', tokenHash).where('purpose', '=', purpose)
      .where('used_at', 'is', null).where('expires_at', '>', now)
      .returning(['user_id', 'email'])
      .executeTakeFirst()

  return {
    issue: input => db.transaction().execute(trx => issueIn(trx, input)),

    async findLive (tokenHash, purpose, now) {
      const token = await db.selectFrom('email_tokens').select(['user_id', 'email'])
        .where('token_hash', '=', tokenHash).where('purpose', '=', purpose)
        .where('used_at', 'is', null).where('expires_at', '>', now)
        .executeTakeFirst()
      return token && { userId: token.user_id, email: token.email }
    },

    async consume (tokenHash, purpose, now) {
      const token = await claim(db, tokenHash, purpose, now)
      return token && { userId: token.user_id, email: token.email }
    },

    async clearCooldown (userId, now, cooldownMs) {
      // Backdated to the cooldown's start: the tokens stay live (their expires_at is unchanged).
      await db.updateTable('email_tokens').set({ created_at: now - cooldownMs })
        .where('user_id', '=', userId).where('created_at', '>', now - cooldownMs)
        .execute()
    },

    async purge (before) {
      const result = await db.deleteFrom('email_tokens').where('expires_at', '<', before).executeTakeFirst()
      return Number(result.numDeletedRows)
    }
  }
}

function requestStore (db: Kysely<Database>): MailRequestStore {
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter
  return {
    async add ({ id, emailKey, purpose, now }) {
      await db.insertInto('mail_requests').values({ id, email_key: emailKey, purpose, requested_at: now }).execute()
    },

    async resolveNext (issueFor) {
      // A read first: an idle poll opens no transaction (on SQLite, no write lock every poll).
      if (await db.selectFrom('mail_requests').select('id').limit(1).executeTakeFirst() === undefined) return undefined
      return db.transaction().execute(async trx => {
        // The oldest request, taken by one worker: PostgreSQL skips rows another instance holds;
        // SQLite has one writer at a time.
        let oldest = trx.selectFrom('mail_requests').select('id').orderBy('requested_at').orderBy('id').limit(1)
        if (postgres) oldest = oldest.forUpdate().skipLocked()
        const taken = await trx.deleteFrom('mail_requests').where('id', '=', oldest).returningAll().executeTakeFirst()
        if (taken === undefined) return undefined
        const userId = await issueIn(trx, { emailKey: taken.email_key, purpose: taken.purpose, ...issueFor({ emailKey: taken.email_key, purpose: taken.purpose }) })
        return { purpose: taken.purpose, userId, requestedAt: taken.requested_at }
      })
    }
  }
}

function outboxStore (db: Kysely<Database>): OutboxStore {
  // The claim machinery is shared with the webhook outbox (../db/claim-queue.ts).
  const queue = createClaimQueue<OutboxRecord>(db, 'mail_outbox')
  /** The body carries a token: erased once the message is sent or given up. */
  const erased = { text: '', html: null }

  return {
    async enqueue ({ id, recipient, message, now, expiresAt }) {
      await db.insertInto('mail_outbox').values({
        id, recipient, subject: message.subject, text: message.text, html: message.html, created_at: now, expires_at: expiresAt, attempts: 0, next_attempt_at: now
      }).execute()
    },

    claim: (claimId, now, leaseMs, limit) => queue.claim(claimId, now, leaseMs, limit),
    sent: (id, claimId, now) => queue.sent(id, claimId, now, erased),
    failed: (id, claimId, error, retryAt, now) => queue.failed(id, claimId, error, retryAt, now, retryAt === null ? erased : undefined),

    list: (limit) => db.selectFrom('mail_outbox')
      .select(['id', 'recipient', 'subject', 'created_at', 'expires_at', 'attempts', 'next_attempt_at', 'claimed_until', 'claimed_by', 'sent_at', 'failed_at', 'last_error'])
      .orderBy('created_at', 'desc').orderBy('id').limit(limit).execute(),

    purge: before => queue.purge(before)
  }
}

/** The default MailStore: SQL through Kysely on the auth store's database (SQLite or PostgreSQL). */
export function createSqlMailStore (db: Kysely<Database>): MailStore {
  return { tokens: tokenStore(db), outbox: outboxStore(db), requests: requestStore(db) }
}
