import createError from '@fastify/error'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { TokenSource } from './token-sources.js'

/*
 * Browser apps (CONTRACT "Browser apps: the refresh token in a cookie", the OAuth 2.0 for
 * Browser-Based Apps BCP): the refresh token in an HttpOnly, SameSite=Strict cookie that
 * JavaScript never reads, opted into per request with `X-Token-Transport: cookie`. Cookies are
 * parsed and written by @fastify/cookie; this module decides names, attributes and who may use them.
 *
 * CSRF is closed by construction: the cookie is read or set only on requests carrying the custom
 * header, which a cross-site page can send only after a CORS preflight that only CORS_ORIGINS
 * pass; and when a request says where it comes from (`Origin`), that origin must be the server's
 * own or listed. SameSite=Strict is a second wall, not the first.
 */

/** The header that opts a request into cookies. Its only accepted value is `cookie`. */
export const TRANSPORT_HEADER = 'x-token-transport'

/** 403 for a request that may not read or set the auth cookies: Fastify's error body. */
export const CookieCsrfError = createError('AUTH_CSRF', '%s', 403)

/**
 * 400 for a request that carries an auth cookie's name twice: a sibling subdomain "tossed" one
 * (`Domain=.example.com; Path=/token`, sent first), and which one is ours cannot be told. Nothing
 * is read, set or cleared (clearing would hit the real one, and the tossed one would win again).
 */
export const CookieAmbiguityError = createError('AUTH_COOKIE_AMBIGUOUS', 'The auth cookie %s was sent more than once: clear this site\'s cookies and log in again', 400)

/**
 * How many times the Cookie header(s) name `name`. @fastify/cookie (the `cookie` library) keeps
 * the first and drops the rest, so it cannot tell; this only counts names, it parses no values.
 */
function occurrences (request: FastifyRequest, name: string): number {
  const header = request.headers.cookie
  if (header === undefined) return 0
  let count = 0
  // Names as the parser reads them: trimmed on both sides (found from outside: `access_token =X`
  // was read as the cookie but not counted, so a second one went unnoticed).
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq !== -1 && part.slice(0, eq).trim() === name) count++
  }
  return count
}

/** @throws CookieAmbiguityError when the request carries `name` more than once */
function refuseTossed (request: FastifyRequest, name: string): void {
  if (occurrences(request, name) > 1) throw new CookieAmbiguityError(name)
}

/** The UNSAFE methods of RFC 9110 §9.2.1 that a cookie-authenticated request must prove it meant. */
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

export interface CookieTransportSettings {
  /** Secure cookies with the __Host-/__Secure- names: the server is reached over https */
  secure: boolean
  /** the server's own origin (PUBLIC_URL's, else the issuer's) */
  ownOrigin: string | undefined
  /** where browsers reach the server: that origin and PUBLIC_URL's path (no trailing slash) */
  publicBase?: string | undefined
  /** whether the origin a request names in Host is the server's own too (plain-http development without PUBLIC_URL) */
  requestOriginIsOwn: boolean
  /** other origins whose pages may use the cookies (CORS_ORIGINS) */
  trustedOrigins: readonly string[]
  /** also set the access token as a cookie, which protected routes accept (ACCESS_TOKEN_COOKIE) */
  accessToken: boolean
  /** the access token's lifetime, for its cookie's Max-Age; seconds */
  accessTokenTtlSeconds: number
}

const PARSED = Symbol('auth cookies')

/**
 * The request's cookies, parsed by @fastify/cookie: `request.cookies` when its parsing hook ran
 * (an app that registered the plugin itself), else parsed now and kept on the request under a
 * symbol of its own. The auth plugin registers @fastify/cookie without that hook, so a request
 * that reads no cookie (a bearer API call) parses none; `request.cookies` is then never filled
 * (found from outside: filling it on some routes only made an app's read work or fail by route).
 */
export function requestCookies (request: FastifyRequest): Record<string, string | undefined> {
  const parsed = request.cookies as Record<string, string | undefined> | null
  if (parsed !== null) return parsed
  const own = request as FastifyRequest & { [PARSED]?: Record<string, string | undefined> }
  own[PARSED] ??= request.server.parseCookie(request.headers.cookie ?? '')
  return own[PARSED]
}

/**
 * The cookie transport of one auth plugin. `prefixOf` gives the path the token routes are served
 * under ('' at the root), known once authRoutes is registered: the refresh cookie is scoped to it.
 * Needs @fastify/cookie registered (its parser and reply.setCookie).
 */
export function createCookieTransport (settings: CookieTransportSettings, prefixOf: () => string) {
  const trusted = new Set([...settings.trustedOrigins, ...(settings.ownOrigin === undefined ? [] : [settings.ownOrigin])])
  const accessName = settings.secure ? '__Host-access_token' : 'access_token'
  /** RFC 6265bis §4.1.3: __Host- needs Path=/ and no Domain; under a prefix the path is the prefix, so __Secure-. */
  const refreshCookie = () => {
    const prefix = prefixOf()
    const name = !settings.secure ? 'refresh_token' : prefix === '' ? '__Host-refresh_token' : '__Secure-refresh_token'
    return { name, path: prefix === '' ? '/' : prefix }
  }
  const base = { httpOnly: true, secure: settings.secure } as const

  /** The request's own origin, as a browser would write it in `Origin`. */
  const requestOrigin = (request: FastifyRequest) => `${request.protocol}://${request.host}`
  /** The `Origin` header when the request has exactly one. */
  const originOf = (request: FastifyRequest): string | undefined => {
    const origin = request.headers.origin
    return typeof origin === 'string' ? origin : undefined
  }
  const isOwn = (origin: string, request: FastifyRequest) => origin === settings.ownOrigin || (settings.requestOriginIsOwn && origin === requestOrigin(request))

  const transport = {
    settings,
    /** whether the request asked for cookies (`X-Token-Transport: cookie`, any case) */
    requested (request: FastifyRequest): boolean {
      const value = request.headers[TRANSPORT_HEADER]
      return typeof value === 'string' && value.trim().toLowerCase() === 'cookie'
    },

    /**
     * The CSRF rule for a request that will read or set the cookies: when it names its origin,
     * that origin is the server's own or trusted. (`Origin: null`, sent by sandboxed and
     * privacy-sensitive contexts, is no origin we trust.) @throws CookieCsrfError
     */
    assertOrigin (request: FastifyRequest): void {
      const origin = originOf(request)
      if (request.headers.origin === undefined) return
      if (origin !== undefined && (trusted.has(origin) || isOwn(origin, request))) return
      throw new CookieCsrfError('This origin may not use the auth cookies')
    },

    /**
     * The refresh token from its cookie, if the request carries one.
     * @throws CookieAmbiguityError when it carries the name twice (cookie tossing)
     */
    readRefresh (request: FastifyRequest): string | undefined {
      const { name } = refreshCookie()
      refuseTossed(request, name)
      const value = requestCookies(request)[name]
      return value === undefined || value === '' ? undefined : value
    },

    /**
     * Sets the refresh cookie (and the access cookie when configured) for a token response.
     * @param sessionRemainingSeconds the session's remaining absolute lifetime: the cookie's Max-Age
     */
    set (reply: FastifyReply, tokens: { access_token: string, refresh_token?: string }, sessionRemainingSeconds: number): void {
      if (tokens.refresh_token !== undefined) {
        const { name, path } = refreshCookie()
        reply.setCookie(name, tokens.refresh_token, { ...base, sameSite: 'strict', path, maxAge: Math.max(0, Math.floor(sessionRemainingSeconds)) })
      }
      if (settings.accessToken) {
        reply.setCookie(accessName, tokens.access_token, { ...base, sameSite: 'lax', path: '/', maxAge: settings.accessTokenTtlSeconds })
      }
    },

    /** Clears the cookies (Max-Age=0): the session they belonged to is over. */
    clear (reply: FastifyReply): void {
      const { name, path } = refreshCookie()
      reply.setCookie(name, '', { ...base, sameSite: 'strict', path, maxAge: 0 })
      if (settings.accessToken) reply.setCookie(accessName, '', { ...base, sameSite: 'lax', path: '/', maxAge: 0 })
    },

    /**
     * The access-token cookie as a token source, after the bearer header: a request with an
     * unsafe method must carry the transport header or come from the server's own origin.
     * Undefined when ACCESS_TOKEN_COOKIE is off.
     */
    accessSource: settings.accessToken
      ? {
        name: 'access-cookie',
        read (request: FastifyRequest): string | null | undefined {
          const token = requestCookies(request)[accessName]
          if (token === undefined || token === '') return undefined
          // Tossed from a sibling subdomain: malformed credentials (401), never the first one's user.
          if (occurrences(request, accessName) > 1) return null
          if (UNSAFE.has(request.method)) {
            const origin = originOf(request)
            if (transport.requested(request)) transport.assertOrigin(request)
            else if (origin === undefined || !isOwn(origin, request)) throw new CookieCsrfError('A request authenticated by cookie must carry X-Token-Transport or come from this origin')
          }
          return token
        }
      } satisfies TokenSource
      : undefined
  }
  return transport
}
export type CookieTransport = ReturnType<typeof createCookieTransport>
