import type { TSchema } from '@sinclair/typebox'
import type { TokenResponse } from '../schemas/token.js'

/** What the token endpoint hands a grant: the form's parameters and who asks. */
export interface GrantRequest {
  /** every parameter of the form (RFC 6749 §3.2), strings only */
  form: Readonly<Record<string, string | undefined>>
  /** the client named by the form or by HTTP Basic credentials, if any */
  clientId: string | undefined
  /** true when that client proved a registered secret (routes/auth/client-auth.ts); a confidential client's grant requires it */
  clientAuthenticated?: boolean
  userAgent: string | undefined
  /** the client's address (Fastify's request.ip), for the events */
  ip?: string
}

/** What a grant resolves: the token response (RFC 6749 §5.1), and the user, for the log. */
export interface GrantResult {
  tokens: TokenResponse
  userId: string
  /** when the session ends at the latest (ms since the epoch): the refresh cookie's Max-Age; default: a full session lifetime */
  sessionExpiresAt?: number
}

/**
 * One grant type of the token endpoint (RFC 6749 §4, §6; extension grants §4.5), as
 * node-oidc-provider's `registerGrantType` takes one: its `grant_type` value, the form parameters
 * it reads (TypeBox schemas: they make the endpoint's OpenAPI form), and what it does.
 * `handle` throws the domain errors (InvalidRequestError, InvalidGrantError, InvalidScopeError, …)
 * that the endpoint renders as RFC 6749 §5.2 errors.
 */
export interface Grant {
  type: string
  parameters: Record<string, TSchema>
  handle (request: GrantRequest): Promise<GrantResult>
}

/**
 * The grants the token endpoint serves: the built-in ones are registered through `register`, as
 * an app registers its own; the endpoint dispatches on `grant_type` and the RFC 8414 metadata
 * lists `types()`. Register grants before the routes (their parameters make the OpenAPI form).
 */
export function createGrantRegistry () {
  const grants = new Map<string, Grant>()
  return {
    /** @throws Error when a grant of this type is registered already */
    register (grant: Grant): void {
      if (grants.has(grant.type)) throw new Error(`grant type ${grant.type} is registered already`)
      grants.set(grant.type, grant)
    },
    get: (type: string): Grant | undefined => grants.get(type),
    types: (): string[] => [...grants.keys()],
    /** Every grant's parameters, for the endpoint's form schema (the first grant naming one describes it). */
    parameters (): Record<string, TSchema> {
      const all: Record<string, TSchema> = {}
      for (const grant of grants.values()) for (const [name, schema] of Object.entries(grant.parameters)) all[name] ??= schema
      return all
    }
  }
}
export type GrantRegistry = ReturnType<typeof createGrantRegistry>
