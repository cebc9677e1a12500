import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { describeRun, PROJECT_ROOT, run } from '../interop/helpers.js'

/*
 * The type tests of the public API (test/types, `npm run test:types`) as part of the suite: tsc on
 * them against the declarations `npm test` has just built into dist/, under strict and without
 * skipLibCheck. Every `@ts-expect-error` line there must be an error, every other line compile.
 */
describe('the public API\'s types (test/types)', () => {
  it('type-check against the built declarations', { timeout: 180_000 }, async () => {
    const tsc = join(PROJECT_ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
    const result = await run(process.execPath, [tsc, '-p', join(PROJECT_ROOT, 'test', 'types', 'tsconfig.json')], { cwd: PROJECT_ROOT, timeoutMs: 170_000 })
    assert.equal(result.code, 0, describeRun(result))
  })
})
