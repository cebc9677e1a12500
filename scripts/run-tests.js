// Runs every compiled test file with node's test runner. Listing the files here (rather than
// passing a glob) works the same on Node 20, 22 and 24. Extra arguments filter by path.
// The summary counts suites skipped whole (scripts/spec-reporter.js), and the run fails when
// it changed the working directory's ./data (scripts/data-guard.js): tests use temporary ones.
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { differences, listing } from './data-guard.js'

const root = 'dist/test'
/**
 * Files that must run alone, after the others: the PostgreSQL restart test stops the shared
 * server, which would break any file running beside it; the outside-app test runs `npm ci` (a
 * native build on both cores), which would skew the timing tests running beside it.
 */
const EXCLUSIVE = ['postgres/db-restart.test.js', 'package/outside-app.test.js']
/**
 * Every other file runs beside one more (tests inside a file still run concurrently where they
 * say so), on PostgreSQL too: each file has a database of its own there (test/helper.ts), so
 * one that ends drops nothing under the Kysely migrator of the file beside it.
 */
const CONCURRENCY = 2

const filters = process.argv.slice(2)
const files = readdirSync(root, { recursive: true })
  .map(String)
  .filter(f => f.endsWith('.test.js'))
  // A compiled file whose source was moved or deleted since an earlier build is not a test any more.
  .filter(f => existsSync(join('test', f.replace(/\.js$/, '.ts'))))
  .map(f => join(root, f))
  .filter(f => filters.length === 0 || filters.some(x => f.includes(x)))
  .sort()

if (files.length === 0) {
  console.error('no test files found under', root)
  process.exit(1)
}

const REPORTER = fileURLToPath(new URL('spec-reporter.js', import.meta.url))
const isExclusive = (file) => EXCLUSIVE.some(x => file.endsWith(join(...x.split('/'))))
const run = (list, concurrency) => list.length === 0
  ? 0
  : spawnSync(process.execPath, ['--test', `--test-concurrency=${concurrency}`, `--test-reporter=${REPORTER}`, '--test-reporter-destination=stdout', ...list], { stdio: 'inherit' }).status ?? 1

const DATA = 'data'
const before = listing(DATA)
const shared = run(files.filter(f => !isExclusive(f)), CONCURRENCY)
const alone = run(files.filter(isExclusive), 1)
const touched = differences(before, listing(DATA))
if (touched.length > 0) {
  console.error(`\nThe tests changed ./${DATA} of the working directory, which is the developer's own (tests must use temporary directories):\n  ${touched.join('\n  ')}\n` +
    `(A server of yours running on ./${DATA} meanwhile changes it too.)`)
}
process.exit(shared !== 0 ? shared : alone !== 0 ? alone : touched.length > 0 ? 1 : 0)
