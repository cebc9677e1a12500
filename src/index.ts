/*
 * The package: the auth plugin, its routes, and what a custom store needs.
 *
 *   import auth, { authRoutes } from 'fastify-oauth2-jwt'
 *   await app.register(auth, { store, jwt: { secret } })
 *   await app.register(authRoutes, { prefix: '/auth' })
 */
export { default, AuthOptionsSchema, type AuthPluginOptions } from '../plugins/auth.js'
export { default as authRoutes, type AuthRoutesOptions } from '../routes/auth/index.js'
export { default as app, fastifyOptions, type AppOptions } from './app.js'
export { loadConfig, type Config } from './config.js'
export { createDatabase } from './db/connection.js'
export { migrateToLatest } from './db/migrations.js'
export { createSqlStore } from './services/sql-store.js'
export { DuplicateUserError } from './services/store.js'
export type { AuthStore, UserStore, SessionStore, KeyStore, SessionRecord, SigningKeyRecord, RotationResult } from './services/store.js'
export type { AuthUser, UserPublic, UserRecord } from './schemas/user.js'
export type { AccessTokenClaims } from './schemas/token.js'
