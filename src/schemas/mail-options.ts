import { Type, type Static } from '@sinclair/typebox'

/**
 * The outbox worker's timing, declared once with its defaults. Every send is bounded by
 * `sendTimeoutMs` and a claim lasts `leaseMs` (longer), so a message is only taken over from
 * an instance that stopped while sending it. Tests shorten the interval and the backoff.
 */
export const OutboxWorkerSettings = Type.Object({
  intervalMs: Type.Integer({ minimum: 10, maximum: 3_600_000, default: 2000, description: 'how often the outbox is polled' }),
  batchSize: Type.Integer({ minimum: 1, maximum: 1000, default: 10, description: 'messages claimed (and sent in parallel) at once' }),
  sendTimeoutMs: Type.Integer({ minimum: 100, maximum: 600_000, default: 60_000, description: 'a send that takes longer is aborted and retried' }),
  leaseMs: Type.Integer({ minimum: 200, maximum: 3_600_000, default: 180_000, description: 'how long a claim keeps other instances off a message; above sendTimeoutMs' }),
  backoffBaseMs: Type.Integer({ minimum: 1, maximum: 3_600_000, default: 5000, description: 'wait after the first failure; doubled after each further one' }),
  backoffMaxMs: Type.Integer({ minimum: 1, maximum: 86_400_000, default: 900_000, description: 'the longest wait between two attempts' }),
  maxAttempts: Type.Integer({ minimum: 1, maximum: 10_000, default: 300, description: 'attempts before a message is given up (it is given up anyway once its link has expired)' }),
  closeTimeoutMs: Type.Integer({ minimum: 0, maximum: 60_000, default: 5000, description: 'how long closing waits for sends in progress before aborting them' })
}, { default: {} })
export type OutboxWorkerSettings = Static<typeof OutboxWorkerSettings>

/** The mail plugin's settings (SMTP_URL, MAIL_FROM, PUBLIC_URL, REQUIRE_VERIFIED_EMAIL, EMAIL_COOLDOWN_SECONDS in src/config.ts). */
export const MailSettings = Type.Object({
  from: Type.String({ minLength: 3, maxLength: 320, pattern: '@', description: 'sender of every message: an address, or `Name <address>`' }),
  publicUrl: Type.String({ pattern: '^https?://[^/?#]+(/[^?#]*)?$', description: 'base of the links in e-mails, e.g. https://auth.example.com (a path prefix is kept)' }),
  smtpUrl: Type.Optional(Type.String({ pattern: '^smtps?://', description: 'smtp://user:pass@host:587 (STARTTLS when offered) or smtps://…:465; without it, messages are written to outboxDir' })),
  outboxDir: Type.String({ minLength: 1, default: './data/outbox', description: 'where messages are written as .eml files when there is no smtpUrl' }),
  requireVerifiedEmail: Type.Boolean({ default: false, description: 'refuse password logins of users whose e-mail is not verified (after the password is checked)' }),
  resetTokenTtlSeconds: Type.Integer({ minimum: 60, maximum: 86_400, default: 3600 }),
  verifyTokenTtlSeconds: Type.Integer({ minimum: 60, maximum: 30 * 86_400, default: 48 * 3600 }),
  cooldownSeconds: Type.Integer({ minimum: 0, maximum: 3600, default: 60, description: 'per account and purpose (reset, verification): no second e-mail within this many seconds; 0: none' }),
  /** warn at start, rather than inform, that mail without SMTP is not delivered */
  production: Type.Boolean({ default: false }),
  worker: OutboxWorkerSettings
})
export type MailSettings = Static<typeof MailSettings>

/** PUBLIC_URL's default: the issuer when it is an http(s) URL (without a trailing slash), else `fallback`. */
export function defaultPublicUrl (issuer: string, fallback?: string): string | undefined {
  return /^https?:\/\/[^/?#]+/.test(issuer) ? issuer.replace(/\/+$/, '') : fallback
}

/** MAIL_FROM's default: `no-reply@` and the URL's hostname, without its port. */
export const defaultMailFrom = (url: string): string => `no-reply@${new URL(url).hostname}`

/** The settings as given: each may be omitted (its default applies), the worker's too. */
export type MailOptions = Partial<Omit<MailSettings, 'worker'>> & { worker?: Partial<OutboxWorkerSettings> }
