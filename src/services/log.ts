/** The structured logger the services write events to (pino's signature; the plugin passes fastify.log). */
export interface ServiceLog {
  info (event: object, message: string): void
  warn (event: object, message: string): void
}
