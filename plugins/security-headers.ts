import fp from 'fastify-plugin'
import helmet from '@fastify/helmet'
import cors from '@fastify/cors'
import type { FastifyPluginAsync } from 'fastify'

/**
 * Security headers on every response (@fastify/helmet: https://github.com/fastify/fastify-helmet)
 * with a Content-Security-Policy under which Swagger UI at /docs and the account pages work:
 * scripts and styles from this origin only (Swagger UI sets style attributes, hence
 * 'unsafe-inline' for styles only), its icons as data: URLs, no framing. CORS
 * (@fastify/cors) only for the origins `config.corsOrigins` lists (CORS_ORIGINS); none by default.
 */
const securityHeaders: FastifyPluginAsync = async (fastify) => {
  await fastify.register(helmet, {
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
  const origins = fastify.config.corsOrigins
  if (origins.length > 0) {
    await fastify.register(cors, {
      origin: origins,
      methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'],
      allowedHeaders: ['authorization', 'content-type'],
      exposedHeaders: ['retry-after', 'www-authenticate'],
      maxAge: 600
    })
  }
}

export default fp(securityHeaders, { fastify: '5.x', name: 'security-headers', dependencies: ['config'] })
