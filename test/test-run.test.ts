import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { listEmlFiles } from '../src/mail/transport.js'
import { build, testOutboxDir, uniqueName, PASSWORD } from './helper.js'

/*
 * The test run itself (scripts/run-tests.js): tests never touch the developer's ./data, a run
 * that does fails, and the summary counts suites skipped whole.
 */

const PROJECT_ROOT = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../' : '../../', import.meta.url))
const script = async (name: string) => await import(pathToFileURL(join(PROJECT_ROOT, 'scripts', name)).href)
const run = promisify(execFile)

describe('the test run', () => {
  it("writes the e-mails of the helper's apps to a temporary outbox, not to ./data/outbox", async (t) => {
    const { listing, differences } = await script('data-guard.js')
    const before = listing(join(PROJECT_ROOT, 'data'))
    const app = await build(t)
    const username = uniqueName('outbox')
    const email = `${username}@example.com`
    const res = await app.inject({ method: 'POST', url: '/register', payload: { username, password: PASSWORD, email } })
    assert.equal(res.statusCode, 201, res.body)
    assert.equal((await app.mailOutbox.runOnce()).sent, 1)

    assert.ok(!testOutboxDir().startsWith(PROJECT_ROOT), testOutboxDir())
    const written = (await listEmlFiles(testOutboxDir())).filter(message => message.to === email)
    assert.equal(written.length, 1)
    assert.deepEqual(differences(before, listing(join(PROJECT_ROOT, 'data'))), [])
  })

  it('names what was added, changed or removed under ./data, so run-tests.js can fail the run', async (t) => {
    const { listing, differences } = await script('data-guard.js')
    const dir = mkdtempSync(join(tmpdir(), 'data-guard-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    assert.deepEqual(differences(listing(join(dir, 'absent')), listing(join(dir, 'absent'))), [])
    writeFileSync(join(dir, 'app.db'), 'one')
    writeFileSync(join(dir, 'old.txt'), 'x')
    const before = listing(dir)
    assert.deepEqual(differences(before, listing(dir)), [])

    mkdirSync(join(dir, 'outbox'))
    writeFileSync(join(dir, 'outbox', 'a.eml'), 'mail')
    writeFileSync(join(dir, 'app.db'), 'one more')
    rmSync(join(dir, 'old.txt'))
    const found = differences(before, listing(dir)) as string[]
    assert.deepEqual(found.map(line => line.replace(/ \(.*$/, '')), ['added outbox/', 'added outbox/a.eml', 'changed app.db', 'removed old.txt'])
  })

  it('counts the suites skipped whole in the summary, and names them', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'reporter-'))
    t.after(() => rmSync(dir, { recursive: true, force: true }))
    const file = join(dir, 'fixture.test.mjs')
    writeFileSync(file, [
      "import { describe, it } from 'node:test'",
      "describe('needs a browser', { skip: 'no browser here' }, () => { it('never runs', () => {}) })",
      "describe('needs Redis', { skip: true }, () => { it('never runs either', () => {}) })",
      "describe('runs', () => {",
      "  it('passes', () => {})",
      "  it('skips itself', (t) => t.skip('not today'))",
      '})'
    ].join('\n'))
    // A runner of its own, not a child reporting to this file's runner (NODE_TEST_CONTEXT).
    const env = { ...process.env }
    delete env.NODE_TEST_CONTEXT
    const { stdout } = await run(process.execPath, ['--test', `--test-reporter=${join(PROJECT_ROOT, 'scripts', 'spec-reporter.js')}`, '--test-reporter-destination=stdout', file], { cwd: dir, env })
    assert.match(stdout, /^ℹ skipped 1 tests, 2 suites$/m, stdout)
    assert.match(stdout, /^ℹ {3}skipped suite: needs a browser # no browser here$/m)
    assert.match(stdout, /^ℹ {3}skipped suite: needs Redis$/m)
    assert.match(stdout, /^ℹ pass 1$/m)
    assert.match(stdout, /✔ passes/, 'the spec reporter still prints every test')
  })
})
