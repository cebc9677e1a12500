import { Type, type TSchema } from '@sinclair/typebox'
import type { FastifyInstance } from 'fastify'

/** Free text: any characters but NUL, which PostgreSQL cannot store in text columns. */
export const Text = (options: { minLength?: number, maxLength: number, description?: string }) =>
  Type.String({ ...options, pattern: '^[^\\u0000]*$' })

export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()])

export const Id = Type.String({ format: 'uuid', description: 'UUID' })
export const Timestamp = Type.String({ format: 'date-time' })

/** Fastify's error body: every error that is not an OAuth token error. */
export const HttpError = Type.Object({
  statusCode: Type.Integer(),
  error: Type.String(),
  message: Type.String()
}, { $id: 'HttpError', title: 'HttpError' })

export const IdParams = Type.Object({ id: Id })

export const Pagination = Type.Object({
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
  offset: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 0 })
})

/** Response entries for the errors every protected route can answer. */
export const protectedErrors = {
  401: Type.Ref(HttpError, { description: 'Missing, invalid or expired token (see WWW-Authenticate)' }),
  403: Type.Ref(HttpError, { description: 'The token lacks a required scope' })
}

/** OpenAPI `security` of a protected operation: the password flow with these scopes, or a pasted bearer token. */
export const bearerSecurity = (...scopes: string[]): Array<Record<string, string[]>> => [{ OAuth2PasswordBearer: scopes }, { bearerAuth: [] }]

/** Adds shared schemas (referenced by $id) that the instance does not have yet; plugins share some. */
export function addSharedSchemas (fastify: FastifyInstance, schemas: Array<TSchema & { $id?: string }>) {
  for (const schema of schemas) {
    if (schema.$id !== undefined && fastify.getSchema(schema.$id) === undefined) fastify.addSchema(schema)
  }
}
