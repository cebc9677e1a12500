import type { Static, TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'

/**
 * Applies the schema's defaults to a copy of `value` and checks it: the validated value, or
 * `fail` called with one message per problem, as `<path>: <problem>` (the path without its
 * leading slash). Serves the environment (src/config.ts) and the auth plugin's options alike.
 * @throws whatever `fail` returns
 */
export function parseOrThrow<T extends TSchema> (schema: T, value: unknown, fail: (problems: string[]) => Error): Static<T> {
  const withDefaults = Value.Default(schema, Value.Clone(value))
  const problems = [...Value.Errors(schema, withDefaults)].map(e => `${e.path.slice(1).replaceAll('/', '.')}: ${e.message}`)
  if (problems.length > 0) throw fail(problems)
  return withDefaults as Static<T>
}
