import fp from 'fastify-plugin'
import { Type, type TObject } from '@sinclair/typebox'
import type { FastifyPluginAsync } from 'fastify'
import { HttpError } from '../src/schemas/common.js'
import { SessionPublic } from '../src/schemas/session.js'
import { MfaRequiredResponse, OAuthErrorResponse, TokenResponse } from '../src/schemas/token.js'
import { UserPublic } from '../src/schemas/user.js'

/** The schemas that routes of several modules refer to by `$id` (`Type.Ref(UserPublic)`). */
export const SHARED_SCHEMAS = [HttpError, OAuthErrorResponse, MfaRequiredResponse, TokenResponse, UserPublic, SessionPublic]

/**
 * The one owner of the shared schemas, as @fastify/sensible owns `HttpError`: registered before
 * any route that refers to them (the auth plugin registers it when the app has not), so a route
 * module works with or without the swagger plugin.
 */
const sharedSchemas: FastifyPluginAsync<{ userMetadata?: TObject }> = async (fastify, options) => {
  for (const schema of SHARED_SCHEMAS) {
    // With the auth plugin's `userMetadata`, the public user's `metadata` has the app's schema.
    // Without it, there is no `metadata` at all.
    if (schema === UserPublic) {
      const { metadata: _none, ...fields } = UserPublic.properties
      fastify.addSchema(Type.Object({ ...fields, ...(options.userMetadata === undefined ? {} : { metadata: options.userMetadata }) }, { $id: UserPublic.$id, title: UserPublic.title }))
    } else {
      fastify.addSchema(schema)
    }
  }
}

export default fp(sharedSchemas, { fastify: '5.x', name: 'shared-schemas' })
