#!/usr/bin/env node
import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { createInterface } from 'node:readline/promises'
import { createApp } from './app.js'
import { ConfigError, environment, loadConfig } from './config.js'
import { DomainError } from './errors.js'
import { listEmlFiles, readableMessage, readEmlFile } from './mail/transport.js'
import { MailSettings } from './schemas/mail-options.js'
import type { Actor } from './services/accounts.js'
import type { Audit } from './core/audit.js'
import type { StoredEvent } from './stores/auth-store.js'
import { setTimeout as delay } from 'node:timers/promises'

const USAGE = `Usage: fastify-auth <command> [options]   (npm run cli -- <command>)

  users create <username> [--admin] [--email E] [--full-name N]
                                 password from $NEW_USER_PASSWORD, else asked on stdin
  users list [--limit N] [--offset N]
  users disable <username>       disables the user and ends their sessions
  users enable <username>
  users import <file.json> [--dry-run]
                                 users with their password hashes from a FastAPI app (bcrypt,
                                 pbkdf2-sha256, argon2): all rows valid or nothing imported
  users unlock <username>        ends a login lock (too many failed password logins)
  users mfa-reset <username>     turns the user's two-factor authentication (TOTP, recovery codes) off
                                 and ends their sessions (a lost authenticator and lost recovery codes)
  users delete <username>        deletes the user with their sessions and items (as an admin would)
  sessions list <username>
  sessions end <session-id>
  sessions end-all <username>    log the user out everywhere
  keys rotate                    new signing key: published at once, signs once every verifier
                                 can know it; old keys verify until their tokens expire
  keys list
  clients add <client-id> --redirect-uri <uri> [--redirect-uri <uri> ...] [--confidential]
                [--scope S ...] [--first-party]
                                 registers a client of the authorization-code flow; with
                                 --confidential prints its secret once (only a hash is stored)
  clients list                   the registered clients (OAUTH_CLIENTS_FILE, built-in, added)
  clients remove <client-id>     removes a client added with clients add
  mail list                      the e-mails written as .eml files (without SMTP_URL) to ./data/outbox
  mail show <id> [--raw]         one of them: From, To, Subject, Date and the decoded text
                                 (its links work when copied); --raw: the message as written
  mail queue [--limit N]         the outbox in the database: queued, sent and given-up messages
  mail send                      sends (or writes) the queued messages that are due now
  audit tail [--limit N] [--follow]
                                 the last N events (default 50) as JSON lines, oldest first;
                                 --follow: then every new one as it is stored (Ctrl-C ends)
  audit export --since <iso date> [--until <iso date>]
                                 every event from then on, oldest first, as JSON lines
  webhooks list [--limit N]      webhook deliveries, newest first, with attempts and errors
  webhooks retry <id>            queues a delivery again (given up or sent): the server sends it

Reads the same environment as the server (DATABASE_URL, ...).`

const DEFAULT_OUTBOX = MailSettings.properties.outboxDir.default
/** The commands that change nothing (and so record no event). */
const READ_ONLY = new Set(['users list', 'sessions list', 'keys list', 'mail list', 'mail show', 'mail queue', 'audit tail', 'audit export', 'webhooks list', 'webhooks retry'])
/** Whoever runs the CLI has the database: an admin that is no user (no user id is 'cli'). */
const CLI_ACTOR: Actor = { id: 'cli', token_scopes: ['admin'] }

async function readPassword (): Promise<string> {
  if (process.env.NEW_USER_PASSWORD) return process.env.NEW_USER_PASSWORD
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: false })
  process.stderr.write('password: ')
  const line = await rl[Symbol.asyncIterator]().next()
  rl.close()
  return String(line.value ?? '').replace(/\r?\n$/, '')
}

/** An ISO 8601 date given to `option`, in epoch ms. @throws ConfigError when missing or unreadable */
function isoDate (option: string, value: string | undefined): number {
  const at = value === undefined ? Number.NaN : Date.parse(value)
  if (!/^\d{4}-\d{2}-\d{2}/.test(value ?? '') || Number.isNaN(at)) throw new ConfigError(`${option} needs an ISO date, e.g. 2026-01-31 or 2026-01-31T12:00:00Z`)
  return at
}

/** A whole number from 1 to 10,000 given to `option`. @throws ConfigError otherwise */
function count (option: string, value: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 10_000) throw new ConfigError(`${option} needs a whole number from 1 to 10000`)
  return Number(value)
}

const jsonLine = (event: StoredEvent) => { process.stdout.write(JSON.stringify(event) + '\n') }
const cursorOf = (event: StoredEvent) => ({ at: Date.parse(event.at), id: event.id })
/** How often `audit tail --follow` asks for new events. */
const FOLLOW_INTERVAL_MS = 1000

/** `audit tail`: the last `limit` events oldest first; with `follow`, then each new one until SIGINT or SIGTERM. */
async function auditTail (audit: Audit, limit: number, follow: boolean): Promise<void> {
  const last = (await audit.list({ limit })).reverse()
  last.forEach(jsonLine)
  if (!follow) return
  let after = last.length > 0 ? cursorOf(last[last.length - 1]!) : { at: Date.now(), id: '' }
  const stop = new AbortController()
  const end = () => stop.abort()
  process.once('SIGINT', end)
  process.once('SIGTERM', end)
  try {
    while (!stop.signal.aborted) {
      const next = await audit.list({ after, order: 'asc', limit: 1000 })
      next.forEach(jsonLine)
      if (next.length > 0) after = cursorOf(next[next.length - 1]!)
      else await delay(FOLLOW_INTERVAL_MS, undefined, { signal: stop.signal }).catch(() => {})
    }
  } finally {
    process.off('SIGINT', end)
    process.off('SIGTERM', end)
  }
}

/** `audit export`: every event from `since` (to `until`), oldest first, in pages of 1000. */
async function auditExport (audit: Audit, since: number, until: number | undefined): Promise<void> {
  let after: { at: number, id: string } | undefined
  for (;;) {
    const page = await audit.list({ since, until, after, order: 'asc', limit: 1000 })
    page.forEach(jsonLine)
    if (page.length < 1000) return
    after = cursorOf(page[page.length - 1]!)
  }
}

/**
 * parseArgs, whose errors (an option without its value, `--limit -5`, an unknown option) are a
 * ConfigError: one line, exit code 1, not a TypeError's stack. @throws ConfigError
 */
function parsed<T> (parse: () => T): T {
  try {
    return parse()
  } catch (error) {
    if (typeof (error as { code?: unknown }).code === 'string' && (error as { code: string }).code.startsWith('ERR_PARSE_ARGS')) {
      throw new ConfigError(`${(error as Error).message.split('\n').join(' ')} (see --help)`)
    }
    throw error
  }
}

async function main (argv: string[]): Promise<number> {
  const { positionals, values } = parsed(() => parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      admin: { type: 'boolean', default: false },
      'dry-run': { type: 'boolean', default: false },
      raw: { type: 'boolean', default: false },
      email: { type: 'string' },
      'full-name': { type: 'string' },
      limit: { type: 'string', default: '50' },
      offset: { type: 'string', default: '0' },
      'redirect-uri': { type: 'string', multiple: true },
      scope: { type: 'string', multiple: true },
      confidential: { type: 'boolean', default: false },
      'first-party': { type: 'boolean', default: false },
      follow: { type: 'boolean', default: false },
      since: { type: 'string' },
      until: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false }
    }
  }))
  const [group, command, arg] = positionals
  if (values.help || group === undefined) {
    console.log(USAGE)
    return group === undefined && !values.help ? 2 : 0
  }

  // The CLI runs the same app (same migrations, store and rules) without listening.
  // The server's environment, ./.env included, so both open the same database.
  const config = loadConfig({ ...environment(), LOG_LEVEL: 'warn', TOKEN_RATE_LIMIT: '0' })
  // Logs go to stderr: stdout carries the command's JSON answer only.
  const fastify = await createApp(config, { logger: { level: 'warn', stream: process.stderr } })
  const { authAccounts: accounts, authSessions: sessions, authKeys: keys } = fastify
  const out = (value: unknown) => console.log(JSON.stringify(value, null, 2))
  const named = (name: string | undefined) => {
    if (name === undefined) throw new ConfigError(`${group} ${command} needs a username`)
    return accounts.getByLogin(name)
  }

  try {
    // Webhooks are queued by the process whose configuration has them (the server's WEBHOOK_URL and
    // WEBHOOK_SECRET, here too): without them, this command's events are stored but never delivered.
    if (config.webhooks === undefined && !READ_ONLY.has(`${group} ${command}`) && ((await fastify.authCore.store.webhooks?.list(1)) ?? []).length > 0) {
      console.error('warning: webhooks are in use (the database has deliveries) but WEBHOOK_URL/WEBHOOK_SECRET are unset here: events from this command will not be delivered; run the CLI with the server\'s WEBHOOK_URL and WEBHOOK_SECRET')
    }
    switch (`${group} ${command}`) {
      case 'users create': {
        if (arg === undefined) throw new ConfigError('users create needs a username')
        out(await accounts.register({ username: arg, password: await readPassword(), email: values.email, full_name: values['full-name'], is_admin: values.admin }, 'cli'))
        return 0
      }
      case 'users list':
        out(await accounts.list(Number(values.limit), Number(values.offset)))
        return 0
      case 'users disable':
      case 'users enable': {
        const user = await accounts.setDisabled((await named(arg)).id, command === 'disable')
        out({ username: user.username, disabled: user.disabled })
        return 0
      }
      case 'users import': {
        if (arg === undefined) throw new ConfigError('users import needs a file: users import <file.json> [--dry-run]')
        const report = await accounts.importUsers(await readFile(arg, 'utf8'), { dryRun: values['dry-run'] })
        out(report)
        return report.ok ? 0 : 1
      }
      case 'users delete': {
        const user = await named(arg)
        await accounts.delete(CLI_ACTOR, user.id)
        out({ username: user.username, deleted: true })
        return 0
      }
      case 'users unlock': {
        const user = await named(arg)
        out({ username: user.username, unlocked: await accounts.unlock(user.id) })
        return 0
      }
      case 'users mfa-reset': {
        const user = await named(arg)
        out({ username: user.username, mfa_was_on: await fastify.authCore.mfa.reset(user.id, { id: null, via: 'cli' }) })
        return 0
      }
      case 'sessions list':
        out(await sessions.list((await named(arg)).id))
        return 0
      case 'sessions end':
        if (arg === undefined) throw new ConfigError('sessions end needs a session id')
        out({ ended: await sessions.endById(arg) })
        return 0
      case 'sessions end-all':
        out({ ended: await sessions.endAll((await named(arg)).id) })
        return 0
      case 'keys rotate': {
        const { kid, signsFrom } = await fastify.authCore.rotateKey()
        out({ kid, signs_from: signsFrom.toISOString() })
        return 0
      }
      case 'keys list':
        out(await keys.list())
        return 0
      case 'clients add': {
        if (arg === undefined) throw new ConfigError('clients add needs a client id: clients add <id> --redirect-uri <uri> [--confidential]')
        const { client, secret } = await fastify.authCore.clients.create({
          client_id: arg,
          redirect_uris: values['redirect-uri'] ?? [],
          confidential: values.confidential,
          scopes: values.scope,
          first_party: values['first-party']
        })
        out(secret === undefined ? client : { ...client, client_secret: secret })
        if (secret !== undefined) console.error('Keep client_secret now: it is shown this once, and only its hash is stored.')
        return 0
      }
      case 'clients list':
        out(await fastify.authCore.clients.list())
        return 0
      case 'clients remove':
        if (arg === undefined) throw new ConfigError('clients remove needs a client id')
        out({ client_id: arg, removed: await fastify.authCore.clients.remove(arg) })
        return 0
      case 'mail list': {
        const dir = config.mail.outboxDir ?? DEFAULT_OUTBOX
        if (config.mail.smtpUrl !== undefined) console.error('SMTP_URL is set: e-mail goes through SMTP, not to files')
        const queued = (await fastify.mailOutbox.list(1000)).filter(m => m.sent_at === null && m.failed_at === null).length
        if (queued > 0) console.error(`${queued} message(s) queued, not written yet: the server's worker writes them (or: mail send)`)
        out(await listEmlFiles(dir))
        return 0
      }
      case 'mail show': {
        if (arg === undefined) throw new ConfigError('mail show needs a message id (see mail list)')
        const raw = await readEmlFile(config.mail.outboxDir ?? DEFAULT_OUTBOX, arg)
        if (raw === undefined) throw new ConfigError(`no message ${arg} in ${config.mail.outboxDir ?? DEFAULT_OUTBOX}`)
        process.stdout.write(values.raw ? raw : readableMessage(raw))
        return 0
      }
      case 'mail queue':
        out(await fastify.mailOutbox.list(Number(values.limit)))
        return 0
      case 'mail send':
        out(await fastify.mailOutbox.runOnce())
        return 0
      case 'audit tail':
        await auditTail(fastify.authCore.audit, count('--limit', values.limit), values.follow)
        return 0
      case 'audit export':
        await auditExport(fastify.authCore.audit, isoDate('--since', values.since), values.until === undefined ? undefined : isoDate('--until', values.until))
        return 0
      case 'webhooks list': {
        const deliveries = fastify.authCore.store.webhooks
        if (deliveries === undefined) throw new ConfigError('this store has no webhook outbox')
        out((await deliveries.list(count('--limit', values.limit))).map(d => ({
          ...d,
          state: d.sent_at !== null ? 'sent' : d.failed_at !== null ? 'given up' : 'queued',
          created_at: new Date(d.created_at).toISOString(),
          next_attempt_at: new Date(d.next_attempt_at).toISOString()
        })))
        return 0
      }
      case 'webhooks retry': {
        if (arg === undefined) throw new ConfigError('webhooks retry needs a delivery id (see webhooks list)')
        if (fastify.authCore.store.webhooks === undefined) throw new ConfigError('this store has no webhook outbox')
        if (!await fastify.authCore.store.webhooks.retry(arg, Date.now())) throw new ConfigError(`no webhook delivery ${arg}`)
        if (config.webhooks === undefined) console.error('WEBHOOK_URL is unset here: the server that has it sends the delivery')
        out({ id: arg, queued: true })
        return 0
      }
      default:
        console.error(`unknown command: ${positionals.join(' ')}\n\n${USAGE}`)
        return 2
    }
  } finally {
    await fastify.close()
  }
}

main(process.argv.slice(2)).then(code => { process.exitCode = code }, (error: Error) => {
  // Expected failures (bad input, policy, duplicates, unknown users) print their message; anything else its stack.
  console.error(error instanceof ConfigError || error instanceof DomainError ? `error: ${error.message}` : error)
  process.exitCode = 1
})
