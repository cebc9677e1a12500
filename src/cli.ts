#!/usr/bin/env node
import { parseArgs } from 'node:util'
import { createInterface } from 'node:readline/promises'
import Fastify from 'fastify'
import app from './app.js'
import { ConfigError, loadConfig } from './config.js'
import { rotateSigningKey } from './services/keys.js'
import { toPublicUser } from './services/auth.js'

const USAGE = `Usage: fastify-auth <command> [options]   (npm run cli -- <command>)

  users create <username> [--admin] [--email E] [--full-name N]
                                 password from $NEW_USER_PASSWORD, else asked on stdin
  users list [--limit N] [--offset N]
  users disable <username>       disables the user and ends their sessions
  users enable <username>
  sessions list <username>
  sessions end <session-id>
  sessions end-all <username>    log the user out everywhere
  keys rotate                    new signing key; old keys verify until their tokens expire
  keys list

Reads the same environment as the server (DATABASE_URL, ...).`

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
      email: { type: 'string' },
      'full-name': { type: 'string' },
      limit: { type: 'string', default: '50' },
      offset: { type: 'string', default: '0' },
      help: { type: 'boolean', short: 'h', default: false }
    }
  })
  const [group, command, arg] = positionals
  if (values.help || group === undefined) {
    console.log(USAGE)
    return group === undefined && !values.help ? 2 : 0
  }

  // The CLI runs the same app (same migrations, store and rules) without listening.
  const config = loadConfig({ ...process.env, LOG_LEVEL: 'warn', TOKEN_RATE_LIMIT: '0' })
  const fastify = Fastify({ logger: { level: 'warn' } })
  await fastify.register(app, { config })
  await fastify.ready()
  const { authService: service, authStore: store } = fastify
  const out = (value: unknown) => console.log(JSON.stringify(value, null, 2))
  const userNamed = async (name: string | undefined) => {
    const user = name === undefined ? undefined : await store.users.findByLogin(name)
    if (user === undefined) throw new ConfigError(`no user named ${name ?? '(missing)'}`)
    return user
  }

  try {
    switch (`${group} ${command}`) {
      case 'users create': {
        if (arg === undefined) throw new ConfigError('users create needs a username')
        const user = await service.register({ username: arg, password: await readPassword(), email: values.email, full_name: values['full-name'], is_admin: values.admin })
        out(toPublicUser(user))
        return 0
      }
      case 'users list': {
        const { items, total } = await store.users.list(Number(values.limit), Number(values.offset))
        out({ total, items: items.map(toPublicUser) })
        return 0
      }
      case 'users disable':
      case 'users enable': {
        const user = await userNamed(arg)
        const disabled = command === 'disable'
        await store.users.update(user.id, { disabled })
        if (disabled) await service.endUserSessions(user.id)
        out({ username: user.username, disabled })
        return 0
      }
      case 'sessions list': {
        const user = await userNamed(arg)
        out(await service.listSessions(user.id))
        return 0
      }
      case 'sessions end':
        if (arg === undefined) throw new ConfigError('sessions end needs a session id')
        out({ ended: await service.endSession(arg) })
        return 0
      case 'sessions end-all': {
        const user = await userNamed(arg)
        out({ ended: await service.endUserSessions(user.id) })
        return 0
      }
      case 'keys rotate':
        if (config.auth.jwtSecret !== undefined) throw new ConfigError('JWT_SECRET is set: HS256 has no stored keys to rotate')
        out({ kid: await rotateSigningKey(store.keys) })
        return 0
      case 'keys list':
        out((await store.keys.list()).map(({ kid, alg, created_at: createdAt, retired_at: retiredAt }) =>
          ({ kid, alg, created_at: new Date(createdAt).toISOString(), retired_at: retiredAt && new Date(retiredAt).toISOString() })))
        return 0
      default:
        console.error(`unknown command: ${positionals.join(' ')}\n\n${USAGE}`)
        return 2
    }
  } finally {
    await fastify.close()
  }
}

main(process.argv.slice(2)).then(code => { process.exitCode = code }, (error: Error & { statusCode?: number }) => {
  // Expected failures (bad input, policy, duplicates) print their message; anything else its stack.
  console.error(error instanceof ConfigError || (error.statusCode ?? 500) < 500 ? `error: ${error.message}` : error)
  process.exitCode = 1
})
