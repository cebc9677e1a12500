// Runs every compiled test file with node's test runner. Listing the files here (rather than
// passing a glob) works the same on Node 20, 22 and 24. Extra arguments filter by path.
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'

const root = 'dist/test'
const filters = process.argv.slice(2)
const files = readdirSync(root, { recursive: true })
  .map(f => join(root, String(f)))
  .filter(f => f.endsWith('.test.js'))
  .filter(f => filters.length === 0 || filters.some(x => f.includes(x)))
  .sort()

if (files.length === 0) {
  console.error('no test files found under', root)
  process.exit(1)
}
// One file at a time: the PostgreSQL restart test stops the shared server, which would break
// files running beside it (tests inside a file still run concurrently where they say so).
const { status } = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files], { stdio: 'inherit' })
process.exit(status ?? 1)
