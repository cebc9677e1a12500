import { Type, type TSchema } from '@sinclair/typebox'

/** Free text: any characters but NUL, which PostgreSQL cannot store in text columns. */
export const Text = (options: { minLength?: number, maxLength: number, description?: string, examples?: string[] }) =>
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

/**
 * A property the client may omit and the handler always has: optional in the schema (so the
 * OpenAPI document does not require it), filled in with its `default` by Ajv's useDefaults
 * (plugins/validation.ts) before the handler runs, so typed as present.
 */
function Defaulted<T extends TSchema> (schema: T): T {
  if (schema.default === undefined) throw new Error('Defaulted: the schema needs a default')
  return Type.Optional(schema) as unknown as T
}

/** `?limit=&offset=`: both optional, 20 and 0 when omitted. */
export const Pagination = Type.Object({
  limit: Defaulted(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
  offset: Defaulted(Type.Integer({ minimum: 0, maximum: 1_000_000, default: 0 }))
})
