import Fastify from 'fastify'
import app, { fastifyOptions } from './app.js'
import { ConfigError, loadConfig, type Config } from './config.js'

/** The only entry point: configuration from the environment, listen, close gracefully. */
let config: Config
try {
  config = loadConfig(process.env)
} catch (error) {
  if (!(error instanceof ConfigError)) throw error
  console.error(error.message)
  process.exit(1)
}

const server = Fastify(fastifyOptions(config))
await server.register(app, { config })

let closing = false
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    if (closing) return
    closing = true
    server.log.info({ signal }, 'closing')
    // In-flight requests finish; new ones get 503; then the database closes.
    const force = setTimeout(() => process.exit(1), 10_000)
    force.unref()
    server.close().then(() => process.exit(0), (err: unknown) => {
      server.log.error({ err }, 'error while closing')
      process.exit(1)
    })
  })
}

try {
  await server.listen({ port: config.port, host: config.host })
} catch (err) {
  server.log.error({ err }, 'could not start')
  process.exit(1)
}
