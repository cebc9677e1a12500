import type { FastifyBaseLogger, FastifyRequest, FastifyServerOptions } from 'fastify'

/**
 * Query parameters that carry a credential in some URL this server answers: the e-mail links'
 * `token` (GET /reset-password, /verify), a provider's `code` and `state` (GET
 * /login/{id}/callback), and any token a client puts in a query by mistake.
 */
const CREDENTIAL_PARAMETERS = new Set(['token', 'code', 'state', 'access_token', 'refresh_token', 'id_token', 'mfa_token', 'code_verifier', 'client_secret'])

/**
 * `url` with the values of credential parameters replaced by `[redacted]` (ASVS 16.2.5: no
 * credentials in logs); the path and the other parameters as sent. Never throws.
 */
export function redactedUrl (url: string): string {
  const at = url.indexOf('?')
  if (at === -1) return url
  const pairs = url.slice(at + 1).split('&').map(pair => {
    const eq = pair.indexOf('=')
    const rawName = eq === -1 ? pair : pair.slice(0, eq)
    let name = rawName
    try { name = decodeURIComponent(rawName.replace(/\+/g, ' ')) } catch {}
    return eq !== -1 && CREDENTIAL_PARAMETERS.has(name) ? `${rawName}=[redacted]` : pair
  })
  return `${url.slice(0, at)}?${pairs.join('&')}`
}

/**
 * The request as the log shows it: Fastify's default fields (method, url, host, remote address
 * and port), with credential parameters of the URL redacted.
 */
export function requestForLog (request: FastifyRequest) {
  const version = request.headers?.['accept-version']
  return {
    method: request.method,
    url: redactedUrl(request.url),
    version: Array.isArray(version) ? version.join(', ') : version,
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort
  }
}

type Bindings = Parameters<FastifyBaseLogger['child']>[0]
type ChildLoggerOptions = NonNullable<Parameters<FastifyBaseLogger['child']>[1]>
/** pino's logger, as Fastify's is: its level check too. */
type Logger = FastifyBaseLogger & { isLevelEnabled: (level: string) => boolean }
const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const
const MADE = Symbol('request logger')
interface Deferred { [MADE]?: FastifyBaseLogger, bindings: () => Bindings, [key: symbol]: unknown }
const BINDINGS = Symbol('bindings')

/** Whether pino has levels beyond its six (`customLevels`), whose methods the prototype does not cover. */
const hasCustomLevels = (logger: Logger) => Object.keys((logger as { levels?: { values?: object } }).levels?.values ?? {}).some(level => !(LEVELS as readonly string[]).includes(level))

/** Per parent logger, the prototype of its deferred children (made once). */
const prototypes = new WeakMap<Logger, object>()

function deferredPrototype (parent: Logger): object {
  const made = (self: Deferred): FastifyBaseLogger => {
    self[MADE] ??= parent.child(self[BINDINGS] as Bindings)
    return self[MADE]
  }
  // Anything not defined here (levels, version, flush…) is the parent's, as a pino child inherits it.
  const proto = Object.create(parent) as Record<string, unknown>
  for (const level of LEVELS) {
    proto[level] = function (this: Deferred, ...args: unknown[]) {
      // The parent's level as it is now, as pino's child() would take it.
      if (this[MADE] === undefined && !parent.isLevelEnabled(level)) return
      ;(made(this)[level] as (...a: unknown[]) => void)(...args)
    }
  }
  Object.assign(proto, {
    child (this: Deferred, bindings: Bindings, options?: ChildLoggerOptions) { return made(this).child(bindings, options) },
    bindings (this: Deferred) { return (made(this) as FastifyBaseLogger & { bindings: () => Bindings }).bindings() },
    setBindings (this: Deferred, bindings: Bindings) { (made(this) as FastifyBaseLogger & { setBindings: (b: Bindings) => void }).setBindings(bindings) },
    isLevelEnabled (this: Deferred, level: string) { return ((this[MADE] as Logger | undefined) ?? parent).isLevelEnabled(level) }
  })
  Object.defineProperty(proto, 'level', {
    get (this: Deferred) { return (this[MADE] ?? parent).level },
    set (this: Deferred, level: string) { made(this).level = level }
  })
  Object.defineProperty(proto, 'levelVal', { get (this: Deferred) { return ((this[MADE] ?? parent) as Logger & { levelVal: number }).levelVal } })
  return proto
}

/**
 * Fastify's `childLoggerFactory` for this server: a request's logger that makes pino's child only
 * when the request writes a line at an enabled level (or asks for its bindings, a child, or a level
 * change). pino's child() serialises its bindings at once, about a microsecond a request; at `warn`
 * most requests write nothing. Lines, bindings (`reqId`) and levels are pino's own. A route with
 * its own log level or serializers, and a logger that is not pino's, get their child at once.
 */
export const deferredChildLogger: NonNullable<FastifyServerOptions['childLoggerFactory']> = (logger, bindings, options) => {
  const parent = logger as Logger
  // Not pino (`logger: false` gives Fastify's null logger), pino with levels of its own (their
  // methods would write without the bindings: found from outside), or a route with its own level
  // or serializers: the child at once.
  if (typeof parent.isLevelEnabled !== 'function' || hasCustomLevels(parent) || options.level !== undefined || options.serializers !== undefined) return logger.child(bindings, options)
  let proto = prototypes.get(parent)
  if (proto === undefined) prototypes.set(parent, proto = deferredPrototype(parent))
  const child = Object.create(proto) as Deferred
  child[BINDINGS] = bindings
  return child as unknown as FastifyBaseLogger
}
