// Tests must never touch the developer's own ./data (the database, the .eml outbox): every test
// works in a temporary directory. scripts/run-tests.js takes a listing of ./data before the run
// and fails the run when it differs afterwards, naming what was added, removed or changed.
import { lstatSync, readdirSync } from 'node:fs'
import { join, relative } from 'node:path'

/** Every entry under `dir` (none when it does not exist): relative path → size and mtime of files, 'dir' for directories. */
export function listing (dir) {
  const entries = new Map()
  const walk = (path) => {
    let children
    try {
      children = readdirSync(path, { withFileTypes: true })
    } catch (error) {
      if (error.code === 'ENOENT') return
      throw error
    }
    for (const child of children) {
      const full = join(path, child.name)
      const name = relative(dir, full)
      if (child.isDirectory()) {
        entries.set(`${name}/`, 'dir')
        walk(full)
      } else {
        const stat = lstatSync(full)
        entries.set(name, `${stat.size} bytes, modified ${stat.mtime.toISOString()}`)
      }
    }
  }
  walk(dir)
  return entries
}

/** What differs between two listings, one line each ("added outbox/x.eml"), sorted. */
export function differences (before, after) {
  const lines = []
  for (const [name, state] of after) {
    if (!before.has(name)) lines.push(`added ${name}`)
    else if (before.get(name) !== state) lines.push(`changed ${name} (${before.get(name)} → ${state})`)
  }
  for (const name of before.keys()) if (!after.has(name)) lines.push(`removed ${name}`)
  return lines.sort()
}
