/*
 * What the compiler refuses once app.ts has merged its types into the package's: each line
 * after a `@ts-expect-error` must be a type error (tsc fails on one that is not). Compiled with
 * the app, never run.
 */
import type { FastifyInstance } from 'fastify'
import { currentUser, type AuthTokenClaims, type AuthUserMetadata } from 'fastify-oauth2-jwt'

const use = (..._: unknown[]) => {}

export function typeChecks (app: FastifyInstance): void {
  app.get('/never-served', async (request) => {
    // @ts-expect-error request.user is null where no protection ran: read it with currentUser()
    use(request.user.id)
    const user = currentUser(request)
    // @ts-expect-error the tenant is a string (AuthUserMetadata, merged in app.ts)
    const tenant: number = user.metadata.tenant
    // @ts-expect-error the metadata has no such field
    const company: unknown = user.metadata.company
    return { tenant, company }
  })

  // @ts-expect-error the token's tenant claim is a string (AuthTokenClaims, merged in app.ts)
  const claims: AuthTokenClaims = { tenant: 42 }
  // @ts-expect-error the metadata's plan is a string
  const metadata: AuthUserMetadata = { tenant: 'acme', plan: 3 }
  // @ts-expect-error an event type that does not exist (a typo) would never fire
  app.authEvents.on('user.creatd', () => {})
  // @ts-expect-error the token's claims (what @fastify/jwt signs) include the tenant, a string
  const signed: number = (null as unknown as Parameters<typeof app.jwt.sign>[0]).tenant
  app.log.trace({ claims, metadata, signed })
}
