import { createRequire } from 'node:module'
import type { FastifyInstance } from 'fastify'
import type { ScopeRegistry } from '../../src/services/scopes.js'

/*
 * The OpenAPI side of route protection, for whatever @fastify/swagger registration the app has.
 *
 * @fastify/swagger resolves every name in an operation's `security` against the
 * `components.securitySchemes` of its own options while it builds the document, and throws when
 * one is missing (a 500 at /docs/json): those options belong to the app, and the plugin cannot
 * know whether the app registers swagger before or after it. So protect.ts does not write
 * `security` into route schemas: it marks the operation with the extension below, which
 * @fastify/swagger copies into the operation as it is, and the document is finished here, each
 * time `fastify.swagger()` builds it: every marked operation gets its `security` requirement, and
 * `components.securitySchemes` gets the plugin's two schemes, beside (never over) the app's own.
 */

/** The OpenAPI security schemes every protected operation names. */
export const SECURITY_SCHEMES = { password: 'OAuth2PasswordBearer', bearer: 'bearerAuth' } as const

/** The operation extension protect.ts sets: the scopes the route requires (empty: any valid token). */
export const SCOPES_EXTENSION = 'x-auth-scopes'
/**
 * The operation extension protect.ts sets on a route that had no response schema: @fastify/swagger
 * documents such a route with `200: Default Response`, which the 401/403 protect.ts adds would hide.
 */
export const DEFAULT_RESPONSE_EXTENSION = 'x-auth-default-response'

/** An operation's `security`: the password flow with the route's scopes, or a pasted bearer token. */
export const securityRequirement = (scopes: readonly string[]) =>
  [{ [SECURITY_SCHEMES.password]: [...scopes] }, { [SECURITY_SCHEMES.bearer]: [] }]

/**
 * The plugin's security schemes: OAuth2 against `tokenUrl` with two flows — the password flow
 * (RFC 6749 §4.3) and, with `authorizationUrl`, the authorization-code flow (RFC 6749 §4.1; Swagger
 * UI adds PKCE with `usePkceWithAuthorizationCodeGrant`) — and a pasted bearer token. Both flows
 * sit in one scheme, so every operation's requirement names it once.
 */
export function securitySchemes (tokenUrl: string, scopes: ScopeRegistry, authorizationUrl?: string): Record<string, object> {
  const scopeDescriptions = Object.fromEntries(Object.entries(scopes.definitions).map(([name, s]) => [name, s.description]))
  return {
    [SECURITY_SCHEMES.password]: {
      type: 'oauth2',
      description: (authorizationUrl === undefined
        ? 'Log in with a username and password (RFC 6749 §4.3); leave client_id empty.'
        : 'Log in with a username and password (RFC 6749 §4.3), or through the login page (authorization code with PKCE, client `swagger-ui`).') +
        ' An account with two-factor authentication cannot log in here: "Try it out" on POST /token with username, password and otp, then paste the access_token into bearerAuth.',
      flows: {
        password: { tokenUrl, refreshUrl: tokenUrl, scopes: scopeDescriptions },
        ...(authorizationUrl === undefined ? {} : { authorizationCode: { authorizationUrl, tokenUrl, refreshUrl: tokenUrl, scopes: scopeDescriptions } })
      }
    },
    [SECURITY_SCHEMES.bearer]: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'Paste an access token' }
  }
}

type Json = Record<string, any>
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace', 'query']

/**
 * Finishes an OpenAPI 3 document in place: every operation marked by protect.ts gets its
 * `security` (unless it has one) and its default response back, and loses the marks; when any
 * operation was given `security`, `components.securitySchemes` gets the plugin's schemes the
 * document lacks (in a new object: the one in the document may be the app's own options). Any
 * other document (Swagger 2, or nothing marked) is left as it is. Returns whether it changed anything.
 */
export function addSecurity (doc: Json, schemes: () => Record<string, object>): boolean {
  if (typeof doc.openapi !== 'string') return false
  let changed = false
  let secured = false
  for (const item of Object.values<Json | undefined>(doc.paths ?? {})) {
    for (const method of METHODS) {
      const operation = item?.[method] as Json | undefined
      if (operation === undefined) continue
      if (Object.hasOwn(operation, DEFAULT_RESPONSE_EXTENSION)) {
        operation.responses = { 200: { description: 'Default Response' }, ...operation.responses }
        delete operation[DEFAULT_RESPONSE_EXTENSION]
        changed = true
      }
      if (!Object.hasOwn(operation, SCOPES_EXTENSION)) continue
      operation.security ??= securityRequirement(operation[SCOPES_EXTENSION])
      delete operation[SCOPES_EXTENSION]
      changed = secured = true
    }
  }
  if (!secured) return changed
  const existing: Json = doc.components?.securitySchemes ?? {}
  const added = Object.fromEntries(Object.entries(schemes()).filter(([name]) => !Object.hasOwn(existing, name)))
  doc.components = { ...doc.components, securitySchemes: { ...existing, ...added } }
  return true
}

const WRAPPED = Symbol('auth security added')
type SwaggerFunction = ((this: unknown, options?: { yaml?: boolean }) => unknown) & { [WRAPPED]?: true }

let yamlStringify: ((value: unknown, options: object) => string) | undefined
/** YAML as @fastify/swagger writes it (its own `yaml` dependency), loaded when first asked for. */
function toYaml (doc: unknown): string {
  if (yamlStringify === undefined) {
    const require = createRequire(import.meta.url)
    yamlStringify = (createRequire(require.resolve('@fastify/swagger'))('yaml') as { stringify: typeof yamlStringify }).stringify
  }
  return yamlStringify!(doc, { strict: false })
}

/**
 * Finishes every document the app's `fastify.swagger()` (@fastify/swagger's decorator, wherever
 * it was registered: before this plugin or after it) builds, JSON or YAML, with addSecurity: the
 * token URL is where authRoutes serves /token (`authEndpoints.prefix`), read when the document is
 * built. The decorator is wrapped where it is defined (so /docs/json of @fastify/swagger-ui, which
 * calls it from its own context, gets the finished document), once, now if it exists and when the
 * app is ready otherwise.
 */
export function documentSecurity (fastify: FastifyInstance, scopes: ScopeRegistry): void {
  // The authorization endpoint is served by authRoutes, as /token is (routes/auth/authorize.ts).
  const schemes = () => securitySchemes(`${fastify.authEndpoints.prefix}/token`, scopes, `${fastify.authEndpoints.prefix}/authorize`)

  const wrap = () => {
    let owner: object | null = fastify
    while (owner !== null && !Object.hasOwn(owner, 'swagger')) owner = Object.getPrototypeOf(owner) as object | null
    if (owner === null) return
    const instance = owner as { swagger: SwaggerFunction }
    const original = instance.swagger
    if (typeof original !== 'function' || original[WRAPPED] === true) return

    const changed = new WeakMap<object, boolean>()
    let yaml: { doc: object, text: string } | undefined
    const swagger: SwaggerFunction = function (this: unknown, options) {
      if (options?.yaml === true) {
        const doc = swagger.call(this) as object
        if (changed.get(doc) !== true) return original.call(this, options)
        if (yaml?.doc !== doc) yaml = { doc, text: toYaml(doc) }
        return yaml.text
      }
      const doc = original.call(this, options)
      if (doc !== null && typeof doc === 'object' && !changed.has(doc)) changed.set(doc, addSecurity(doc as Json, schemes))
      return doc
    }
    swagger[WRAPPED] = true
    instance.swagger = swagger
  }

  wrap()
  fastify.addHook('onReady', async () => { wrap() })
}
