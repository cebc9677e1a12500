import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { STATUS_CODES } from 'node:http'
import { createRequire } from 'node:module'
import type { FastifyPluginAsync, FastifySchema } from 'fastify'

// The package's own version (a self-reference through package.json "exports").
const { version } = createRequire(import.meta.url)('fastify-oauth2-jwt/package.json') as { version: string }

/**
 * A route's operationId when its schema names none (every route of this package names one):
 * method and path in camelCase, e.g. `getUsersMeSessions`, `deleteUsersById`. It depends on
 * the route alone, never on the instance, so generated clients keep their names.
 */
export function defaultOperationId (method: string, url: string): string {
  const words = [method.toLowerCase(), ...url.split('/').flatMap(segment =>
    segment.startsWith(':') ? ['by', segment.slice(1)] : segment.split(/[^A-Za-z0-9]+/))]
  return words.filter(w => w !== '').map((w, i) => i === 0 ? w : w[0]!.toUpperCase() + w.slice(1)).join('')
}

type OpenApiDocument = Record<string, any>
/** Where Swagger UI is served, and its client of the authorization-code flow. */
const DOCS_PREFIX = '/docs'
export const DOCS_CLIENT_ID = 'swagger-ui'
const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']

/**
 * The generated document, finished where @fastify/swagger stays generic: a response whose
 * schema has no description gets its status's reason phrase ("OK", "Created", "No Content")
 * instead of "Default Response", and a query parameter with a default is never required (the
 * client may omit it: Ajv's useDefaults fills it in before the handler runs).
 */
export function finishDocument (doc: OpenApiDocument): OpenApiDocument {
  for (const item of Object.values<OpenApiDocument>(doc.paths ?? {})) {
    for (const method of HTTP_METHODS) {
      const operation = item[method] as OpenApiDocument | undefined
      if (operation === undefined) continue
      for (const [status, response] of Object.entries<OpenApiDocument>(operation.responses ?? {})) {
        if (response.description === undefined || response.description === 'Default Response') {
          response.description = STATUS_CODES[status] ?? (/^[1-5]XX$/.test(status) ? `Any ${status}` : 'Any other answer')
        }
      }
      for (const parameter of operation.parameters ?? []) {
        if (parameter.in === 'query' && parameter.required === true && parameter.schema?.default !== undefined) parameter.required = false
      }
    }
  }
  return doc
}

/*
 * Swagger UI plugins, serialized into the page's initializer by @fastify/swagger-ui (browser
 * code: no imports, no closures). Every auth form of the Authorize dialog asks for focus, and the
 * last one wins: the pasted-token field, below the password flow, so the dialog opened scrolled
 * past the login form. Only the password flow's username field (a plain <input>, not Swagger UI's
 * Input component) keeps it. Setting `plugins` replaces Swagger UI's default list, so its
 * DownloadUrl plugin (which loads the document) is restated.
 */
const downloadUrl = (system: unknown) => (globalThis as unknown as { SwaggerUIBundle: { plugins: { DownloadUrl: (system: unknown) => object } } }).SwaggerUIBundle.plugins.DownloadUrl(system)
const passwordFlowFocused = () => ({
  wrapComponents: {
    Input: (Original: unknown, system: { React: { createElement: (type: unknown, props: object) => unknown } }) =>
      (props: object) => system.React.createElement(Original, { ...props, autoFocus: false })
  }
})

/** The origin of the issuer, when it is an http(s) URL: where generated clients send requests. */
function originOf (issuer: string): string | undefined {
  try {
    const url = new URL(issuer)
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : undefined
  } catch {
    return undefined
  }
}

const DESCRIPTION = `OAuth2 password flow with JWT access tokens, as in FastAPI's tutorial, done for real.

**Try it:** \`POST /register\` a user, then click **Authorize**, enter the username and password
(leave client_id and client_secret empty) and pick the scopes. Every "Try it out" then sends
\`Authorization: Bearer <access token>\`.

**Tokens.** \`POST /token\` with \`grant_type=password\` answers an access token (a JWT, valid
\`expires_in\` seconds) and a refresh token. To renew, post \`grant_type=refresh_token\` and the
refresh token: you get a new pair, and the old refresh token is spent. Presenting a spent refresh
token again ends the whole session (RFC 9700 reuse detection), so refresh one request at a time.
\`POST /token/revoke\` (RFC 7009) or \`POST /logout\` end a session.`

/**
 * OpenAPI 3 generated from the route schemas (@fastify/swagger), served at /openapi.json,
 * and Swagger UI at /docs (@fastify/swagger-ui). Register after the auth plugin (its scopes, for
 * the Authorize dialog) and before any route; the auth plugin adds its security schemes and each
 * protected operation's `security` to the document itself, as it does in any app that mounts it.
 * https://github.com/fastify/fastify-swagger, https://github.com/fastify/fastify-swagger-ui
 */
const swaggerPlugin: FastifyPluginAsync = async (fastify) => {
  const scopes = fastify.authScopes.definitions
  const origin = originOf(fastify.authIssuer.issuer)

  await fastify.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Fastify OAuth2 + JWT', version, description: DESCRIPTION },
      // Absolute first, for generated clients (a relative URL fails outside a browser); then the
      // origin /docs was opened from, for a browser that reached this server by another name.
      servers: [
        ...(origin === undefined ? [] : [{ url: origin, description: 'This server (the token issuer)' }]),
        { url: '/', description: 'The origin this document was loaded from' }
      ],
      tags: [
        { name: 'auth', description: 'Register, log in, refresh, revoke, log out' },
        { name: 'users', description: 'Your account and sessions; user administration' },
        { name: 'mfa', description: 'Two-factor authentication: TOTP and recovery codes' },
        { name: 'items', description: 'An example resource owned per user (scope `items`)' },
        { name: 'meta', description: 'Health, keys and server metadata' }
      ]
      // components.securitySchemes: the auth plugin adds its own to the document (plugins/auth/openapi.ts).
    },
    transform: ({ schema, url, route }) => {
      const operationId = (schema as { operationId?: string } | undefined)?.operationId ??
        (typeof route.method === 'string' ? defaultOperationId(route.method, url) : undefined)
      return { schema: { ...schema, ...(operationId === undefined ? {} : { operationId }) } as FastifySchema, url }
    },
    // Only an OpenAPI 3 document is generated here (the `openapi` option), never a Swagger 2 one.
    transformObject: (document) => 'openapiObject' in document ? finishDocument(document.openapiObject) : document.swaggerObject,
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => typeof json.$id === 'string' ? json.$id : `def-${i}` }
  })

  // The Authorize dialog's authorization-code flow: the built-in public client `swagger-ui`, whose
  // one redirect URI is Swagger UI's own oauth2-redirect page (@fastify/swagger-ui serves it at
  // <routePrefix>/static/oauth2-redirect.html and names it as `oauth2RedirectUrl`), on the server's
  // public URL (PUBLIC_URL with its path, as the browser computes it from /docs' own address, else
  // the issuer). PKCE (S256) is Swagger UI's `usePkceWithAuthorizationCodeGrant`.
  const publicBase = fastify.authCookies.settings.publicBase
  if (publicBase !== undefined) {
    fastify.authCore.clients.addBuiltIn({ client_id: DOCS_CLIENT_ID, public: true, first_party: true, redirect_uris: [`${publicBase}${DOCS_PREFIX}/static/oauth2-redirect.html`] })
  }

  await fastify.register(swaggerUi, {
    routePrefix: DOCS_PREFIX,
    uiConfig: { persistAuthorization: true, docExpansion: 'list', deepLinking: true, plugins: [downloadUrl, passwordFlowFocused] },
    initOAuth: { clientId: DOCS_CLIENT_ID, usePkceWithAuthorizationCodeGrant: true, scopes: Object.keys(scopes).filter(name => scopes[name]?.adminOnly !== true) }
  })

  fastify.get('/openapi.json', { schema: { hide: true } }, async () => fastify.swagger())
}

export default fp(swaggerPlugin, { fastify: '5.x', name: 'swagger', dependencies: ['auth'] })
