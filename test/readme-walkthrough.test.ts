import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describeRun, PROJECT_ROOT, run } from './interop/helpers.js'
import { startServerProcess } from './server-process.js'

/*
 * README.md's "A walk-through with curl", run as written: the ```sh block is read from the README,
 * its placeholders get the values of earlier answers (TOKEN=eyJ… the access token, refresh_token=…
 * the refresh token), 127.0.0.1:3000 becomes the test server's address, and bash runs each curl
 * against a real server process. A change to the README or to the API that parts them fails here.
 */

const HEADING = '## A walk-through with curl'
const README_ORIGIN = 'http://127.0.0.1:3000'

interface Step {
  /** the command as the README writes it (continuation lines joined) */
  command: string
  /** the answer the README shows under it, as a `# {…}` comment line */
  documented?: string
}

/** The ```sh block under the heading, as commands, assignments and documented answers. */
function walkthrough (readme: string): Step[] {
  const section = readme.slice(readme.indexOf(HEADING))
  const block = /```sh\n([\s\S]*?)\n```/.exec(section)?.[1]
  assert.ok(readme.includes(HEADING) && block !== undefined, `README.md has a sh block under "${HEADING}"`)
  const steps: Step[] = []
  let pending = ''
  for (const line of block.split('\n')) {
    if (pending === '' && line.startsWith('#')) {
      if (line.startsWith('# {') && steps.length > 0) steps.at(-1)!.documented = line.slice(2)
      continue
    }
    if (line.trim() === '' && pending === '') continue
    if (line.endsWith('\\')) { pending += line.slice(0, -1); continue }
    steps.push({ command: (pending + line).trim() })
    pending = ''
  }
  return steps
}

/**
 * The documented answer as a pattern: the same keys, and each value equal to the documented one,
 * where `…` stands for any characters (`"eyJ…"`: a string starting with eyJ).
 */
function assertLike (actual: Record<string, unknown>, documented: string) {
  const expected = JSON.parse(documented) as Record<string, unknown>
  assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort(), `the documented keys: ${documented}`)
  for (const [key, value] of Object.entries(expected)) {
    if (typeof value === 'string' && value.includes('…')) {
      const pattern = new RegExp(`^${value.split('…').map(part => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.+')}$`)
      assert.match(String(actual[key]), pattern, key)
    } else {
      assert.deepEqual(actual[key], value, key)
    }
  }
}

describe('README.md: "A walk-through with curl"', () => {
  it('runs as written against a real server, each answer as documented', { timeout: 120_000 }, async (t) => {
    const curl = await run('curl', ['--version'], { timeoutMs: 10_000 })
    if (curl.code !== 0) { t.skip(`no curl here: ${describeRun(curl)}`); return }

    const steps = walkthrough(readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8'))
    assert.ok(steps.length >= 5, `${steps.length} steps`)
    const { base } = await startServerProcess(t, { DATABASE_URL: 'sqlite::memory:' })

    /** What the walk-through has learned so far: the shell variables and the last token answer. */
    const variables: Record<string, string> = {}
    let tokens: Record<string, unknown> | undefined
    const seen: string[] = []

    for (const { command, documented } of steps) {
      const assignment = /^([A-Z_]+)=(\S+)/.exec(command)
      if (assignment !== null) {
        // TOKEN=eyJ…   # the access_token
        const [, name, placeholder] = assignment as unknown as [string, string, string]
        assert.equal(placeholder, 'eyJ…', `a placeholder the test knows: ${command}`)
        assert.ok(tokens !== undefined, `${name} is set after a login`)
        variables[name] = String(tokens.access_token)
        seen.push(`${name}=`)
        continue
      }
      assert.match(command, /^curl /, `a curl command: ${command}`)
      assert.ok(command.includes(README_ORIGIN), `the README's address: ${command}`)
      let concrete = command.replaceAll(README_ORIGIN, base)
      if (concrete.includes('refresh_token=…')) {
        assert.ok(tokens !== undefined, 'a refresh follows a login')
        concrete = concrete.replace('refresh_token=…', `refresh_token=${String(tokens.refresh_token)}`)
      }
      assert.equal(concrete.includes('…'), false, `no placeholder left: ${concrete}`)

      // The status code on a line of its own after the body.
      const result = await run('bash', ['-c', `${concrete} -w '\\n%{http_code}'`], { env: { ...process.env, ...variables }, timeoutMs: 30_000 })
      assert.equal(result.code, 0, `${command}\n${describeRun(result)}`)
      const newline = result.stdout.lastIndexOf('\n')
      const [body, status] = [result.stdout.slice(0, newline), Number(result.stdout.slice(newline + 1))]
      const path = new URL(/https?:\/\/\S+/.exec(concrete)![0]).pathname
      const step = `${path}${concrete.includes('grant_type=refresh_token') ? ' (refresh)' : ''}`
      seen.push(step)

      switch (step) {
        case '/register':
          assert.equal(status, 201, body)
          assert.equal(JSON.parse(body).username, 'johndoe')
          break
        case '/token':
        case '/token (refresh)': {
          assert.equal(status, 200, body)
          const answer = JSON.parse(body) as Record<string, unknown>
          if (documented !== undefined) assertLike(answer, documented)
          if (tokens !== undefined) assert.notEqual(answer.refresh_token, tokens.refresh_token, 'a new refresh token')
          tokens = answer
          break
        }
        case '/users/me':
          assert.equal(status, 200, body)
          assert.equal(JSON.parse(body).username, 'johndoe')
          break
        case '/logout':
          assert.equal(status, 204, body)
          assert.equal(body, '')
          break
        default:
          assert.fail(`a step this test does not know: ${command}`)
      }
    }
    assert.deepEqual(seen, ['/register', '/token', 'TOKEN=', '/users/me', '/token (refresh)', '/logout'])
  })
})
