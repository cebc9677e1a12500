import type { Compilable, CompiledQuery } from 'kysely'

/**
 * Compiles a one-parameter query once and returns a function that binds each call's value.
 * Kysely builds and compiles a query on every execution; for the lookup behind every
 * authenticated request that costs about twice the indexed query itself (see BENCHMARKS.md).
 * The SQL text stays the same, so the driver's prepared statement is reused as well.
 */
export function compileOnce<R> (build: (placeholder: string) => Compilable<R>): (value: string) => CompiledQuery<R> {
  // A value no caller passes: if the compiled parameters are not exactly [it], the shape differs from what we bind.
  const placeholder = '\u0000compile-once\u0000'
  const compiled = build(placeholder).compile()
  if (compiled.parameters.length !== 1 || compiled.parameters[0] !== placeholder) {
    throw new Error(`compileOnce: the bound value must be the query's only parameter (it has ${compiled.parameters.length}): ${compiled.sql}`)
  }
  return (value) => ({ ...compiled, parameters: [value] })
}
