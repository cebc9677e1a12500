import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { grantScopes, parseScope } from '../../src/services/scopes.js'

describe('scopes', () => {
  it('parses a space-separated scope without duplicates or empty entries', () => {
    assert.deepEqual(parseScope('me  items me'), ['me', 'items'])
    assert.deepEqual(parseScope(''), [])
    assert.deepEqual(parseScope(undefined), [])
  })

  it('grants all available scopes when none are asked for, and refuses any not available', () => {
    assert.deepEqual(grantScopes([], ['me', 'items']), ['me', 'items'])
    assert.deepEqual(grantScopes(['items'], ['me', 'items']), ['items'])
    assert.equal(grantScopes(['admin'], ['me', 'items']), undefined)
  })
})
