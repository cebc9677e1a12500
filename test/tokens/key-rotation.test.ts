import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { extname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose'
import { durableDatabaseUrl } from '../helper.js'
import { call, login, registerUser } from '../http-client.js'
import { startServerProcess } from '../server-process.js'

const cli = fileURLToPath(new URL(`../../src/cli${extname(fileURLToPath(import.meta.url))}`, import.meta.url))
const ISSUER = 'http://rotation.test'

describe('signing key rotation across instances (CONTRACT.md, "Running")', () => {
  it('publishes a new key on every instance before any signs with it: each token verifies against each instance\'s JWKS', async (t) => {
    const databaseUrl = await durableDatabaseUrl(t)
    // A 1-second JWKS max-age: instances re-read keys every second and a new key signs 2 s after
    // rotation. The loop logs in ~100 times from one address, so the per-address limit is off.
    const env = { DATABASE_URL: databaseUrl, JWT_ISSUER: ISSUER, JWKS_MAX_AGE_SECONDS: '1', TOKEN_RATE_LIMIT: '0' }
    const a = await startServerProcess(t, env)
    const b = await startServerProcess(t, env)
    await registerUser(a.base, 'rotor')

    const rotated = await promisify(execFile)(process.execPath, [...process.execArgv, cli, 'keys', 'rotate'], { env: { ...process.env, ...env }, timeout: 30_000 })
    const { kid: newKid } = JSON.parse(rotated.stdout) as { kid: string }

    const kids = new Set<string>()
    const deadline = Date.now() + 4500
    while (Date.now() < deadline) {
      const tokens = await Promise.all([a, b].map(async server => (await login(server.base, 'rotor')).access_token))
      const sets = await Promise.all([a, b].map(async server => (await call<JSONWebKeySet>(server.base, '/.well-known/jwks.json')).body))
      for (const token of tokens) {
        const kid = decodeProtectedHeader(token).kid!
        kids.add(kid)
        for (const [i, set] of sets.entries()) {
          await assert.doesNotReject(
            jwtVerify(token, createLocalJWKSet(set), { issuer: ISSUER, audience: ISSUER, typ: 'at+jwt', algorithms: ['EdDSA'] }),
            `a token signed with ${kid} by one instance, verified with instance ${'ab'[i]}'s JWKS (${set.keys.map(k => k.kid).join(', ')})`
          )
        }
      }
      await new Promise(resolve => setTimeout(resolve, 20))
    }
    assert.ok(kids.has(newKid), 'the new key signs once every instance has published it')
    assert.equal(kids.size, 2, 'old key, then new key')
  })
})
