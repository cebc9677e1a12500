import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { assertConfigRefused } from '../helper.js'
import { loadConfig } from '../../src/config.js'
import { providersFile } from './upstream.js'

const SECRET = 'never-printed-secret-value'

describe('OIDC_PROVIDERS_FILE', () => {
  it('refuses bad files at start, naming the variable and the entry, never the secret', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ id: 'x' }, /OIDC_PROVIDERS_FILE: .* must hold a JSON array/],
      [[{ id: 'Bad Id', name: 'X', issuer: 'https://x.example', client_id: 'c', client_secret: SECRET }], /OIDC_PROVIDERS_FILE\[0\]\.id/],
      [[{ id: 'google', name: 'Google', client_id: 'c', client_secret: SECRET }], /OIDC_PROVIDERS_FILE: provider google: issuer is required/],
      [[{ id: 'corp', name: 'Corp', issuer: 'http://corp.example', client_id: 'c', client_secret: SECRET }], /provider corp: issuer must be https/],
      [[{ id: 'github', issuer: 'https://github.com', client_id: 'c', client_secret: SECRET }], /the GitHub preset takes no issuer/],
      [[{ id: 'github', client_id: 'c', client_secret: SECRET }, { id: 'github', client_id: 'd', client_secret: SECRET }], /listed twice/],
      [[{ id: 'github', client_id: 'c' }], /OIDC_PROVIDERS_FILE\[0\]\.client_secret/],
      [[{ id: 'github', client_id: 'c', client_secret: SECRET, extra: true }], /OIDC_PROVIDERS_FILE\[0\]/]
    ]
    for (const [content, message] of cases) {
      assertConfigRefused({ OIDC_PROVIDERS_FILE: providersFile(content) }, message)
      try { loadConfig({ OIDC_PROVIDERS_FILE: providersFile(content) }) } catch (error) { assert.equal(String(error).includes(SECRET), false) }
    }
    assertConfigRefused({ OIDC_PROVIDERS_FILE: '/nonexistent/providers.json' }, /OIDC_PROVIDERS_FILE: cannot read/)
  })

  it('accepts OpenID Connect providers and the GitHub preset', () => {
    const config = loadConfig({ OIDC_PROVIDERS_FILE: providersFile([{ id: 'google', name: 'Google', issuer: 'https://accounts.google.com', client_id: 'c', client_secret: SECRET }, { id: 'github', client_id: 'g', client_secret: SECRET }]) })
    assert.deepEqual(config.auth.oidcProviders.map(p => p.id), ['google', 'github'])
  })
})
