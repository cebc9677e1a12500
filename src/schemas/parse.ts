import type { Static, TSchema } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors'

/**
 * What a string schema with a `pattern` may say about a value that fails it, instead of the
 * regular expression: `description` (what is expected, e.g. "comma-separated origins, e.g.
 * https://app.example.com"), and `refusedValues`, sentences for values that deserve their own
 * (a regular expression source → the sentence; the first that matches the value is said).
 */
export interface PatternMessages {
  description?: string
  refusedValues?: Record<string, string>
}

/** One problem as `<path>: <problem>`; a pattern failure in the schema's own words where it has them. */
function problemOf (error: ValueError): string {
  const path = error.path.slice(1).replaceAll('/', '.')
  if (error.type === ValueErrorType.StringPattern && typeof error.value === 'string') {
    const { description, refusedValues = {} } = error.schema as TSchema & PatternMessages
    const refusal = Object.entries(refusedValues).find(([pattern]) => new RegExp(pattern).test(error.value as string))
    if (refusal !== undefined) return `${path}: ${refusal[1]}`
    if (description !== undefined) return `${path}: expected ${description}`
  }
  return `${path}: ${error.message}`
}

/**
 * Applies the schema's defaults to a copy of `value` and checks it: the validated value, or
 * `fail` called with one message per problem, as `<path>: <problem>` (the path without its
 * leading slash). Serves the environment (src/config.ts) and the auth plugin's options alike.
 * A value that fails a `pattern` is described in words (PatternMessages), never by the pattern.
 * @throws whatever `fail` returns
 */
export function parseOrThrow<T extends TSchema> (schema: T, value: unknown, fail: (problems: string[]) => Error): Static<T> {
  const withDefaults = Value.Default(schema, Value.Clone(value))
  const problems = [...Value.Errors(schema, withDefaults)].map(problemOf)
  if (problems.length > 0) throw fail(problems)
  return withDefaults as Static<T>
}
