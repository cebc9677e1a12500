import { visit } from 'jsonc-parser'

/** Deeper texts are refused: no request body or import file of this project nests more than a few levels. */
const MAX_DEPTH = 64
class TooDeep extends Error {}

/**
 * Why a JSON text is refused before parsing: a member name that appears twice in one object, or
 * nesting deeper than MAX_DEPTH; undefined if neither (jsonc-parser's visitor, strict JSON).
 */
export function jsonStructureProblem (text: string): string | undefined {
  const objects: Array<Set<string> | undefined> = []
  let duplicate: string | undefined
  const enter = (names?: Set<string>) => {
    objects.push(names)
    if (objects.length > MAX_DEPTH) throw new TooDeep() // stops the visitor's recursion early
  }
  try {
    visit(text, {
      onObjectBegin: () => enter(new Set()),
      onArrayBegin: () => enter(),
      onObjectEnd: () => { objects.pop() },
      onArrayEnd: () => { objects.pop() },
      onObjectProperty: (name) => {
        const names = objects[objects.length - 1]
        if (names === undefined || duplicate !== undefined) return
        if (names.has(name)) duplicate = name
        names.add(name)
      }
    }, { disallowComments: true, allowTrailingComma: false })
  } catch (error) {
    if (error instanceof TooDeep) return `nested more than ${MAX_DEPTH} levels`
    throw error
  }
  return duplicate === undefined ? undefined : `member ${JSON.stringify(duplicate.slice(0, 64))} appears twice`
}
