/*
 * Text that may reach the database. PostgreSQL refuses NUL in text values (an error, so a 500
 * where nothing checked first), and a lone UTF-16 surrogate (JSON "\ud800") is not Unicode text:
 * it cannot be encoded as UTF-8, so a driver silently replaces it with U+FFFD, and two different
 * strings would be stored as one. SQLite takes both, so only a PostgreSQL run would notice.
 * Every request field and every imported row is checked here before it goes anywhere.
 */

/** A surrogate code unit that is not half of a pair (with the u flag, a pair is one code point). */
const LONE_SURROGATE = /\p{Surrogate}/u

/** Why this string cannot be stored as text, or undefined when it can. */
export function stringProblem (value: string): string | undefined {
  if (value.includes('\u0000')) return 'contains a NUL character'
  if (LONE_SURROGATE.test(value)) return 'is not valid Unicode (a lone UTF-16 surrogate)'
  return undefined
}

/** A member name as it may be shown in a message: never the offending text itself, and short. */
const shown = (name: string) => stringProblem(name) === undefined && name.length <= 64 ? name : '(a member)'

/**
 * The first string in `value` (itself, or anywhere inside its arrays and plain objects, member
 * names included) that cannot be stored as text, as `{ path, problem }`; undefined when every
 * string can. `path` is JSON-pointer-like (`/full_name`, `/items/0`) and never quotes the bad
 * text. Walks without recursion, so the nesting depth of a parsed body does not matter.
 */
export function textProblem (value: unknown): { path: string, problem: string } | undefined {
  const pending: Array<[unknown, string]> = [[value, '']]
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [item, path] = next
    if (typeof item === 'string') {
      const problem = stringProblem(item)
      if (problem !== undefined) return { path, problem }
    } else if (Array.isArray(item)) {
      for (let i = item.length - 1; i >= 0; i--) pending.push([item[i], `${path}/${i}`])
    } else if (typeof item === 'object' && item !== null && !ArrayBuffer.isView(item)) {
      const entries = Object.entries(item)
      for (let i = entries.length - 1; i >= 0; i--) {
        const [name, member] = entries[i]!
        const problem = stringProblem(name)
        if (problem !== undefined) return { path, problem: `has a member name that ${problem}` }
        pending.push([member, `${path}/${shown(name)}`])
      }
    }
  }
  return undefined
}
