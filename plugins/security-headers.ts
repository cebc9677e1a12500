import fp from 'fastify-plugin'
import helmet from 'helmet'
import cors from '@fastify/cors'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { FastifyPluginAsync } from 'fastify'

/**
 * Security headers on every response, by helmet (https://helmetjs.github.io, the library
 * @fastify/helmet wraps), with a Content-Security-Policy under which Swagger UI at /docs and the account pages work:
 * scripts and styles from this origin only (Swagger UI sets style attributes, hence
 * 'unsafe-inline' for styles only), its icons as data: URLs, no framing. CORS
 * (@fastify/cors) only for the origins `config.corsOrigins` lists (CORS_ORIGINS), with credentials
 * (the refresh cookie of browser apps, src/http/cookie-transport.ts); none by default.
 */
const securityHeaders: FastifyPluginAsync = async (fastify) => {
  // Built once. @fastify/helmet builds helmet's middleware anew on every request (it parses the
  // CSP each time): 6% of an authenticated request's CPU in the profile (BENCHMARKS.md).
  const headers = helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        fontSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"]
      }
    },
    // Sent over plain HTTP too (the default setup), where browsers ignore it; harmless behind TLS.
    strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: true }
  })
  // helmet's headers depend on its options only (no CSP nonces here): computed once, then set by
  // Fastify with the rest of each reply's headers.
  const computed: Record<string, string> = {}
  const capture = { setHeader: (name: string, value: string) => { computed[name.toLowerCase()] = value }, removeHeader: (name: string) => { delete computed[name.toLowerCase()] } }
  headers({} as IncomingMessage, capture as unknown as ServerResponse, () => {})
  // Callback style: an async hook costs a promise and a microtask on every request.
  fastify.addHook('onRequest', (_request, reply, done) => { reply.headers(computed); done() })
  const origins = fastify.config.corsOrigins
  if (origins.length > 0) {
    await fastify.register(cors, {
      origin: origins,
      methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
      allowedHeaders: ['authorization', 'content-type', 'x-token-transport'],
      // Browser apps on these origins send the refresh cookie (fetch's credentials: 'include');
      // never with '*' (CORS_ORIGINS refuses it).
      credentials: true,
      exposedHeaders: ['retry-after', 'www-authenticate'],
      maxAge: 600
    })
  }
}

export default fp(securityHeaders, { fastify: '5.x', name: 'security-headers', dependencies: ['config'] })
