import { newId } from '../identifiers.js'
import type { OutboxWorkerSettings } from '../schemas/mail-options.js'

/** The part of a pino logger the worker uses. */
export interface WorkerLog {
  info (object: object, message: string): void
  warn (object: object, message: string): void
  error (object: object, message: string): void
}

/** Sent messages and given-up ones are kept this long (without their bodies), then deleted. */
const KEEP_DONE_MS = 7 * 86_400_000
/** Expired tokens are kept a day (a late click still finds "used or expired"), then deleted. */
const KEEP_EXPIRED_TOKENS_MS = 86_400_000
const PURGE_EVERY_MS = 3_600_000

/** The wait before the attempt after `attempts` failed ones: base, 2 × base, 4 × base, … up to the maximum. */
export const backoffMs = (attempts: number, settings: Pick<OutboxWorkerSettings, 'backoffBaseMs' | 'backoffMaxMs'>) =>
  Math.min(settings.backoffMaxMs, settings.backoffBaseMs * 2 ** Math.min(30, Math.max(0, attempts - 1)))

/**
 * The mail server refused this message for good (a 5xx to the recipient or the content):
 * retrying cannot help. Connection failures, timeouts, 4xx and refused logins are retried.
 */
export function isPermanentFailure (error: unknown): boolean {
  const { code, responseCode } = (error ?? {}) as { code?: unknown, responseCode?: unknown }
  return typeof responseCode === 'number' && responseCode >= 500 && responseCode < 600 && (code === 'EENVELOPE' || code === 'EMESSAGE')
}

/** The longest a `Retry-After` is honoured (a receiver asking for a year is waited for a day). */
const RETRY_AFTER_MAX_MS = 86_400_000

const describe = (error: unknown) => {
  const { code, message } = (error ?? {}) as { code?: unknown, message?: unknown }
  return `${typeof code === 'string' ? `${code}: ` : ''}${String(message ?? error)}`.slice(0, 500)
}

/** What the worker needs of a queued row: the mail outbox's and the webhook outbox's rows have it. */
export interface QueuedItem { id: string, attempts: number, expires_at: number | null }

/**
 * What the worker needs of an outbox: the claim machinery (src/db/claim-queue.ts behind the SQL
 * stores). `outcome` is what `send` resolved, `cause` what it threw (a store may record parts of them).
 */
export interface WorkerQueue<R extends QueuedItem> {
  claim (claimId: string, now: number, leaseMs: number, limit: number): Promise<R[]>
  sent (id: string, claimId: string, now: number, outcome?: unknown): Promise<boolean>
  failed (id: string, claimId: string, error: string, retryAt: number | null, now: number, cause?: unknown): Promise<boolean>
  purge (before: number): Promise<number>
  list? (limit: number): Promise<unknown[]>
}

/** The row type of a queue. */
export type ItemOf<Q extends WorkerQueue<QueuedItem>> = Awaited<ReturnType<Q['claim']>>[number]

/**
 * Sends what an outbox holds, out of band of any request: it claims due rows (so no other
 * worker, in this instance or another, sends them meanwhile), sends them in parallel, and marks
 * each sent, or failed with its next attempt after an exponential backoff — or later, when the
 * error carries `retryAfterMs` (an HTTP `Retry-After`). Every send is bounded by `sendTimeoutMs`;
 * a row whose `expires_at` has passed is given up. Delivery is at least once: an instance that
 * dies between the receiver's acceptance and the mark has its row resent (with the same id) once
 * the claim lapses. The e-mail outbox (plugins/mail.ts) and the webhook outbox
 * (plugins/webhooks.ts) each run one.
 */
export function createOutboxWorker<Q extends WorkerQueue<QueuedItem>> (deps: {
  outbox: Q
  send: (message: ItemOf<Q>, signal: AbortSignal) => Promise<unknown>
  settings: OutboxWorkerSettings
  log: WorkerLog
  /** what is sent, in log lines: 'e-mail' (default), 'webhook' */
  what?: string
  /** retrying cannot help (default: isPermanentFailure, the SMTP rule) */
  isPermanent?: (error: unknown) => boolean
  /** deletes expired tokens (hourly, beside the outbox's own purge) */
  purgeTokens?: (before: number) => Promise<number>
  /**
   * runs before each claim: turns queued requests into messages (the recovery service's
   * resolveRequests). At the poll, never right after a request: work that followed each request
   * would show in its time.
   */
  prepare?: () => Promise<unknown>
}) {
  const { send, settings, log, purgeTokens, prepare } = deps
  type R = ItemOf<Q>
  const outbox = deps.outbox as unknown as WorkerQueue<R>
  const what = deps.what ?? 'e-mail'
  const isPermanent = deps.isPermanent ?? isPermanentFailure
  /** Names this worker in its claims (claimed_by = `<worker>:<batch>`), to tell instances apart. */
  const workerId = newId().slice(0, 8)
  const aborter = new AbortController()
  let timer: NodeJS.Timeout | undefined
  let running: Promise<unknown> | undefined
  let stopped = false
  let purgedAt = Date.now() // the first purge one PURGE_EVERY_MS after start, not at the first poll

  async function deliver (message: R, claimId: string): Promise<'sent' | 'failed'> {
    const context = { messageId: message.id, attempt: message.attempts }
    if (message.expires_at !== null && message.expires_at <= Date.now()) {
      await outbox.failed(message.id, claimId, 'expired before it could be sent', null, Date.now())
      log.warn(context, `${what} given up: it expired before it could be sent`)
      return 'failed'
    }
    // A timer of our own, not AbortSignal.timeout(): that one does not keep the process alive.
    const timeout = new AbortController()
    const timer = setTimeout(() => timeout.abort(Object.assign(new Error(`no answer within ${settings.sendTimeoutMs} ms`), { code: 'ETIMEDOUT' })), settings.sendTimeoutMs)
    let outcome: unknown
    try {
      outcome = await send(message, AbortSignal.any([aborter.signal, timeout.signal]))
    } catch (error) {
      const now = Date.now()
      const asked = (error as { retryAfterMs?: unknown } | null)?.retryAfterMs
      const retryAfter = typeof asked === 'number' && asked > 0 ? Math.min(asked, RETRY_AFTER_MAX_MS) : 0
      const retryAt = now + Math.max(backoffMs(message.attempts, settings), retryAfter)
      const giveUp = isPermanent(error) || message.attempts >= settings.maxAttempts ||
        (message.expires_at !== null && retryAt >= message.expires_at)
      await outbox.failed(message.id, claimId, describe(error), giveUp ? null : retryAt, now, error)
      if (giveUp) log.error({ ...context, error: describe(error) }, `${what} given up`)
      else log.warn({ ...context, error: describe(error), retryInMs: retryAt - now }, `${what} not sent: will retry`)
      return 'failed'
    } finally {
      clearTimeout(timer)
    }
    if (!await outbox.sent(message.id, claimId, Date.now(), outcome)) log.warn(context, `${what} sent after its claim lapsed`)
    log.info(context, `${what} sent`)
    return 'sent'
  }

  /** Sends every due message, batch after batch; the counts of this run. */
  async function runOnce (): Promise<{ sent: number, failed: number }> {
    const counts = { sent: 0, failed: 0 }
    if (prepare !== undefined && !stopped) await prepare()
    for (;;) {
      if (stopped) break
      const claimId = `${workerId}:${newId()}`
      const batch = await outbox.claim(claimId, Date.now(), settings.leaseMs, settings.batchSize)
      for (const result of await Promise.allSettled(batch.map(message => deliver(message, claimId)))) {
        if (result.status === 'fulfilled') counts[result.value]++
        else {
          counts.failed++
          log.error({ err: result.reason }, `${what} outcome not recorded`)
        }
      }
      if (batch.length < settings.batchSize) break
    }
    const now = Date.now()
    if (now - purgedAt >= PURGE_EVERY_MS) {
      purgedAt = now
      await outbox.purge(now - KEEP_DONE_MS)
      await purgeTokens?.(now - KEEP_EXPIRED_TOKENS_MS)
    }
    return counts
  }

  function schedule () {
    if (stopped) return
    timer = setTimeout(() => {
      running = runOnce()
        .catch(err => log.warn({ err }, 'outbox run failed'))
        .finally(() => { running = undefined; schedule() })
    }, settings.intervalMs)
    timer.unref()
  }

  return {
    runOnce,
    /** The newest messages of the outbox, without their bodies (the command line's `mail queue`). */
    list: (limit: number) => (outbox.list?.(limit) ?? Promise.resolve([])) as ReturnType<NonNullable<Q['list']>>,
    /** Polls the outbox every `intervalMs` until stopped. */
    start (): void {
      if (timer === undefined && !stopped) schedule()
    },
    /** Stops polling; waits `closeTimeoutMs` for sends in progress, then aborts them (they are retried later). */
    async stop (): Promise<void> {
      stopped = true
      clearTimeout(timer)
      const current = running
      if (current === undefined) return
      let wait: NodeJS.Timeout | undefined
      const gaveUp = await Promise.race([
        current.then(() => false),
        new Promise<boolean>(resolve => { wait = setTimeout(resolve, settings.closeTimeoutMs, true) })
      ])
      clearTimeout(wait)
      if (gaveUp) {
        aborter.abort()
        await current
      }
    }
  }
}
export type OutboxWorker = ReturnType<typeof createOutboxWorker>
