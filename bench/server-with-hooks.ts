import closeWithGrace from 'close-with-grace'
import { createApp } from '../src/app.js'
import { environment, loadConfig } from '../src/config.js'

/**
 * The production server (as src/server.ts starts it) with what issue 19 lets a mounting app plug
 * in: an `accessTokenClaims` hook adding one claim to every access token, and an `authEvents`
 * listener on every event type ('*'). The benchmark measures GET /users/me on it beside the plain
 * server and the equal-output floor (issue 19: the per-request cost "with and without a claims
 * hook and a listener registered").
 *
 * src/app.ts passes the auth plugin no `hooks`, so the hook is set on the core's own hooks object
 * (`app.authCore.hooks`, which the login pipeline reads for every token it signs) once the app is
 * built; the listener goes through `app.authEvents.on`, as an app's would. Serves on PORT.
 */
const config = loadConfig(environment())
const server = await createApp(config)
const hooks = server.authCore.hooks
if (typeof hooks !== 'object' || hooks === null) throw new Error('server-with-hooks: app.authCore.hooks is not an object: cannot add a claims hook')
hooks.accessTokenClaims = ({ user }) => ({ tenant: `tenant-${user.username.length}` })
let seen = 0
server.authEvents.on('*', () => { seen++ })

closeWithGrace({ delay: 10_000, logger: server.log }, async () => {
  await server.close()
  server.log.warn({ events: seen }, 'server-with-hooks: events the listener received')
})
await server.listen({ port: config.port, host: config.host })
