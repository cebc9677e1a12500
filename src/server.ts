import closeWithGrace from 'close-with-grace'
import { createApp } from './app.js'
import { ConfigError, environment, loadConfig, type Config } from './config.js'

/** The only entry point: configuration from the environment (and ./.env), listen, close gracefully. */
let config: Config
try {
  config = loadConfig(environment())
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : error)
  process.exit(1)
}

let server: Awaited<ReturnType<typeof createApp>>
try {
  server = await createApp(config)
} catch (error) {
  // A refused setting found while building the app (FIRST_SUPERUSER, an unreachable database).
  console.error(error instanceof ConfigError ? error.message : error)
  process.exit(1)
}

// SIGTERM / SIGINT: stop accepting connections, let in-flight requests finish, then close the
// plugins in reverse order (the argon2 queue drains, the database closes). 10 s at most.
// https://github.com/mcollina/close-with-grace
closeWithGrace({ delay: 10_000, logger: server.log }, async ({ signal, err }) => {
  if (err !== undefined) server.log.error({ err }, 'closing after an error')
  else server.log.info({ signal }, 'closing')
  await server.close()
})

try {
  await server.listen({ port: config.port, host: config.host })
} catch (err) {
  server.log.error({ err }, 'could not start')
  process.exit(1)
}
