import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import type { Config } from '../src/config.js'

/** Makes the validated configuration available as `fastify.config`. */
const configPlugin: FastifyPluginAsync<{ config: Config }> = async (fastify, { config }) => {
  fastify.decorate('config', config)
}

export default fp(configPlugin, { fastify: '5.x', name: 'config' })

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
  }
}
