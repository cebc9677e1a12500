/*
 * The package: the auth plugin, its routes, and what a custom store needs.
 *
 *   import auth, { authRoutes } from 'fastify-oauth2-jwt'
 *   await app.register(auth, { store, jwt: { secret } })
 *   await app.register(authRoutes, { prefix: '/auth' })
 *
 * Its declarations carry the plugin's type augmentations: `request.user`, `app.authenticate`
 * and `config.scopes` are typed for any app that imports this module.
 */
export { default, type AuthPluginOptions } from '../plugins/auth/index.js'
export { default as authRoutes, type AuthRoutesOptions } from '../routes/auth/index.js'
export { default as adminRoutes } from '../routes/users/admin.js'
export { default as wellKnownRoutes } from '../routes/well-known.js'
export { default as app, createApp, fastifyOptions, type AppOptions } from './app.js'
export { loadConfig, type Config } from './config.js'
export { createDatabase } from './db/connection.js'
export { migrateToLatest } from './db/migrations.js'
export { createSqlStore } from './stores/sql-store.js'
export { DomainError, DuplicateUserError, InvalidGrantError, InvalidScopeError, NotFoundError, PolicyError } from './errors.js'
export type { ScopeDefinition } from './services/scopes.js'
export type { AuthStore, UserStore, SessionStore, KeyStore, SessionRecord, SigningKeyRecord, RotationResult } from './stores/auth-store.js'
export * from './schemas/index.js'
