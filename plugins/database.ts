import fp from 'fastify-plugin'
import { sql } from 'kysely'
import type { FastifyPluginAsync } from 'fastify'
import { createDatabase, type DatabaseHandle } from '../src/db/connection.js'
import { migrateToLatest } from '../src/db/migrations.js'

/** Opens the database from `config.database`, migrates it, and closes it with the app. */
const databasePlugin: FastifyPluginAsync = async (fastify) => {
  const { url, poolSize } = fastify.config.database
  const handle = createDatabase(url, poolSize)
  fastify.addHook('onClose', async () => handle.db.destroy())
  await migrateToLatest(handle.db)
  fastify.decorate('db', handle.db)
  fastify.decorate('pingDatabase', async () => { await sql`select 1`.execute(handle.db) })
  fastify.decorate('dbChangeCounter', handle.changeCounter ?? null)
}

export default fp(databasePlugin, { fastify: '5.x', name: 'database', dependencies: ['config'] })

declare module 'fastify' {
  interface FastifyInstance {
    db: DatabaseHandle['db']
    pingDatabase: () => Promise<void>
    /** SQLite: changes whenever the database may have changed (src/db/sqlite.ts); null on PostgreSQL */
    dbChangeCounter: (() => number) | null
  }
}
