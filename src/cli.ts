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

Reads the same environment as the server (DATABASE_URL, ...).`

const DEFAULT_OUTBOX = MailSettings.properties.outboxDir.default
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

async function main (argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
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
      help: { type: 'boolean', short: 'h', default: false }
    }
  })
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
