import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import { createOutboxWorker } from '../src/mail/outbox-worker.js'
import { defaultMailFrom, defaultPublicUrl, MailSettings, type MailOptions } from '../src/schemas/mail-options.js'
import { fileTransport, smtpTransport, type MailTransport } from '../src/mail/transport.js'
import { parseOrThrow } from '../src/schemas/parse.js'
import { InvalidGrantError } from '../src/errors.js'
import { createRecoveryService } from '../src/services/recovery.js'
import type { MailStore } from '../src/stores/mail-store.js'

/** Queued recovery requests resolved per worker run; the rest wait for the next one. */
const REQUESTS_PER_RUN = 200

/** The plugin's options: the settings of `MailSettings` (all but `store` may be omitted), and the store. */
export type MailPluginOptions = MailOptions & {
  /** where tokens and the outbox live: createSqlMailStore(db) on the auth store's database */
  store: MailStore
  /** instead of SMTP or files (tests, other transports) */
  transport?: MailTransport
}

/** @throws Error naming every invalid option */
function checkOptions (options: MailPluginOptions, issuer: string) {
  const { store, transport, ...given } = options
  const fail = (problems: string[]) => new Error(`mail plugin: invalid options: ${problems.join('; ')}`)
  if (typeof store?.tokens?.issue !== 'function' || typeof store?.outbox?.claim !== 'function') {
    throw fail(['store: a MailStore is required (createSqlMailStore(db))'])
  }
  const publicUrl = given.publicUrl ?? defaultPublicUrl(issuer)
  if (publicUrl === undefined) throw fail([`publicUrl: required, as the issuer (${issuer}) is not an http(s) URL`])
  const defined = JSON.parse(JSON.stringify({ ...given, publicUrl, from: given.from ?? defaultMailFrom(publicUrl) }))
  return { store, transport, settings: parseOrThrow(MailSettings, defined, fail) }
}

/**
 * E-mail: account recovery and address verification, and the outbox worker that sends their
 * messages (src/mail). Decorates `authRecovery` (the service behind the routes of
 * routes/auth/recovery.ts) and `mailOutbox` (the worker: polling from start to close); plugs
 * verification e-mails and REQUIRE_VERIFIED_EMAIL into the accounts service. Mail goes through
 * nodemailer over SMTP (https://nodemailer.com), or to .eml files without `smtpUrl`.
 */
const mailPlugin: FastifyPluginAsync<MailPluginOptions> = async (fastify, options) => {
  const { store, transport: given, settings } = checkOptions(options, fastify.authIssuer.issuer)
  const transport = given ?? (settings.smtpUrl !== undefined
    ? smtpTransport(settings.smtpUrl, settings.worker.sendTimeoutMs)
    : fileTransport(settings.outboxDir))
  if (transport.delivers) {
    fastify.log.info({ smtp: transport.description }, 'e-mail is sent through SMTP')
  } else {
    // Production without SMTP_URL: no user receives a reset or verification e-mail; say so at start.
    fastify.log[settings.production ? 'warn' : 'info']({ outbox: transport.description },
      'SMTP_URL unset: e-mail is not delivered, messages are written as .eml files (npm run cli -- mail list)')
  }

  const recovery = createRecoveryService({ store, accounts: fastify.authAccounts, events: fastify.authCore.events, settings })
  // REQUIRE_VERIFIED_EMAIL: the first check of the login pipeline, after the password.
  if (settings.requireVerifiedEmail) {
    fastify.authLogin.addCheck({ name: 'email_unverified', check: ({ user }) => { if (!user.email_verified) throw new InvalidGrantError() } })
  }
  fastify.authAccounts.useEmailVerification({
    // The account exists whatever happens here: a failure is logged, and /request-verify-token remains.
    send: async (user) => {
      try {
        await recovery.sendVerification(user)
      } catch (err) {
        fastify.log.error({ err, userId: user.id }, 'verification e-mail not queued')
      }
    },
    // The change is made whatever happens here: a failure is logged.
    notify: async (to, notice) => {
      try {
        await recovery.notify(to, notice)
      } catch (err) {
        fastify.log.error({ err, notice: notice.kind }, 'notice e-mail not queued')
      }
    },
    clearLimits: userId => recovery.clearCooldown(userId)
  })

  const worker = createOutboxWorker({
    outbox: store.outbox,
    settings: settings.worker,
    log: fastify.log,
    purgeTokens: before => store.tokens.purge(before),
    // Requests of /forgot-password and /request-verify-token become tokens and messages here,
    // out of band, so the request's time tells nothing. Logged without the address.
    prepare: async () => {
      for (const resolved of await recovery.resolveRequests(REQUESTS_PER_RUN)) {
        fastify.log.info({ event: resolved.purpose === 'reset' ? 'password-reset-requested' : 'verification-requested', userId: resolved.userId, waitedMs: Date.now() - resolved.requestedAt },
          resolved.userId === undefined ? 'e-mail request: no mail (no such account, or one was sent within the cooldown)' : 'e-mail request: message queued')
      }
    },
    send: (message, signal) => transport.send({
      id: message.id,
      from: settings.from,
      to: message.recipient,
      subject: message.subject,
      text: message.text,
      html: message.html,
      date: new Date(message.created_at)
    }, signal)
  })
  fastify.decorate('authRecovery', recovery)
  fastify.decorate('mailOutbox', worker)
  // Background work starts when the server listens: not in the CLI or a test app that never does.
  fastify.addHook('onListen', async () => { worker.start() })
  fastify.addHook('onClose', async () => {
    await worker.stop()
    transport.close()
  })
}

export default fp(mailPlugin, { fastify: '5.x', name: 'mail', dependencies: ['auth'] })

declare module 'fastify' {
  interface FastifyInstance {
    authRecovery: ReturnType<typeof createRecoveryService>
    mailOutbox: ReturnType<typeof createOutboxWorker<MailStore['outbox']>>
  }
}
