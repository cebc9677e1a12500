import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { verifyAnyFormat } from '../../src/services/hash-formats.js'
import {
  detectImportShape, findExistingConflicts, parseUserImport, type ImportError, type ImportResult, type ImportShape, type NormalisedRow
} from '../../src/services/user-import.js'

/** The passwords behind the import fixtures' hashes (IMPORT_PASSWORDS in scripts/make-hash-fixtures.py). */
const PASSWORDS: Record<string, string> = {
  johndoe: 'secret',
  alice: 'secret2',
  bob: 'correct horse battery staple',
  carol: 'P\u00e4ssw\u00f6rd mit \u00dcml\u00e4uten',
  dave: 'dave-password-1',
  'admin@example.com': 'changethis-admin',
  'user@example.com': 'user-password-1',
  'former@example.com': 'former-password-1'
}

// Read from the source tree, also when this file runs compiled from dist/test/services (npm test).
const FIXTURES = new URL(import.meta.url.endsWith('.ts') ? '../fixtures/import/' : '../../../test/fixtures/import/', import.meta.url)
const load = (name: string): unknown => JSON.parse(readFileSync(new URL(name, FIXTURES), 'utf8'))

function rowsOf (result: ImportResult): NormalisedRow[] {
  assert.ok(result.ok, `expected a valid file, got ${JSON.stringify(result)}`)
  return result.rows
}
function errorsOf (result: ImportResult): ImportError[] {
  assert.ok(!result.ok, 'expected errors')
  return result.errors
}
/** The rows' fields but the hash, for deepEqual. */
const withoutHash = (rows: NormalisedRow[]) => rows.map(({ password_hash: hash, ...rest }) => rest)

describe('parseUserImport: valid files', () => {
  it('reads FastAPI\'s tutorial fake_users_db, keys as usernames', () => {
    const result = parseUserImport(load('fake-users-db.json'))
    assert.equal(result.ok && result.shape, 'fake_users_db')
    assert.deepEqual(withoutHash(rowsOf(result)), [
      { row: 1, key: 'johndoe', username: 'johndoe', email: 'johndoe@example.com', full_name: 'John Doe', hash_format: 'bcrypt', disabled: false, is_admin: false },
      { row: 2, key: 'alice', username: 'alice', email: 'alice@example.com', full_name: 'Alice Wonderson', hash_format: 'bcrypt', disabled: true, is_admin: false }
    ])
  })

  it('reads the contract\'s array, with nulls, every hash format and an e-mail as username', () => {
    const result = parseUserImport(load('users-array.json'))
    assert.equal(result.ok && result.shape, 'users')
    assert.deepEqual(withoutHash(rowsOf(result)), [
      { row: 1, username: 'bob', email: 'bob@example.com', full_name: 'Bob', hash_format: 'bcrypt', disabled: false, is_admin: true },
      { row: 2, username: 'Carol', email: null, full_name: null, hash_format: 'pbkdf2-sha256', disabled: false, is_admin: false },
      { row: 3, username: 'dave', email: null, full_name: null, hash_format: 'argon2', disabled: false, is_admin: false },
      { row: 4, username: 'admin@example.com', email: 'admin@example.com', full_name: 'Admin', hash_format: 'bcrypt', disabled: false, is_admin: true }
    ])
  })

  it('reads the full-stack template\'s user rows: the e-mail is the username, is_active false disables', () => {
    const result = parseUserImport(load('fullstack-users.json'))
    assert.equal(result.ok && result.shape, 'fullstack')
    assert.deepEqual(withoutHash(rowsOf(result)), [
      { row: 1, username: 'admin@example.com', email: 'admin@example.com', full_name: null, hash_format: 'bcrypt', disabled: false, is_admin: true },
      { row: 2, username: 'user@example.com', email: 'user@example.com', full_name: 'Some User', hash_format: 'argon2', disabled: false, is_admin: false },
      { row: 3, username: 'former@example.com', email: 'former@example.com', full_name: 'Former Employee', hash_format: 'bcrypt', disabled: true, is_admin: false }
    ])
  })

  for (const file of ['fake-users-db.json', 'users-array.json', 'fullstack-users.json']) {
    it(`keeps ${file}'s hashes, which verify with the original passwords only`, async () => {
      for (const row of rowsOf(parseUserImport(load(file)))) {
        const password = PASSWORDS[row.username.toLowerCase()]
        assert.ok(password !== undefined, row.username)
        assert.equal(await verifyAnyFormat(row.password_hash, password), true, row.username)
        assert.equal(await verifyAnyFormat(row.password_hash, `${password}x`), false, row.username)
      }
    })
  }

  it('treats an empty file as nothing to import', () => {
    assert.deepEqual(parseUserImport([]), { ok: true, shape: 'users', rows: [] })
    assert.deepEqual(parseUserImport({}), { ok: true, shape: 'fake_users_db', rows: [] })
  })
})

describe('parseUserImport: invalid files', () => {
  const files: Array<[string, Array<[number, string | undefined, RegExp]>]> = [
    ['invalid-unknown-hash.json', [
      [2, undefined, /hashed_password: unknown hash format/],
      [3, undefined, /hashed_password: unknown hash format/],
      [4, undefined, /hashed_password: unknown hash format/],
      [5, undefined, /hashed_password: unknown hash format/],
      [6, undefined, /hashed_password: malformed bcrypt hash/]
    ]],
    ['invalid-bad-username.json', [
      [1, undefined, /username "jo" must be 3 to 64/],
      [2, undefined, /username "john doe" must be/],
      [3, undefined, /username "-john" must be/],
      [4, undefined, /username "j\u00f6hn" must be/],
      [5, undefined, /username "x{65}" must be/],
      [6, undefined, /is an e-mail address, so email must be left out or be the same address/]
    ]],
    ['invalid-duplicates.json', [
      [2, 'JohnDoe', /duplicate username "JohnDoe": row 1 has it too \("johndoe", ignoring case/],
      [3, 'janedoe', /duplicate e-mail "John@Example.com": row 1 has it too/]
    ]]
  ]
  for (const [file, expected] of files) {
    it(`reports every bad row of ${file}, and no rows`, () => {
      const errors = errorsOf(parseUserImport(load(file)))
      assert.equal(errors.length, expected.length, JSON.stringify(errors))
      expected.forEach(([row, key, message], i) => {
        assert.equal(errors[i]?.row, row)
        assert.equal(errors[i]?.key, key)
        assert.match(errors[i]?.message ?? '', message)
      })
    })
  }
})

describe('parseUserImport: rows', () => {
  const bcrypt = (load('users-array.json') as Array<{ hashed_password: string }>)[0]!.hashed_password
  const argon2 = (load('fullstack-users.json') as Array<{ hashed_password: string }>)[1]!.hashed_password
  const user = (fields: Record<string, unknown> = {}) => ({ username: 'johndoe', hashed_password: bcrypt, ...fields })
  const cases: Array<[string, unknown, RegExp[]]> = [
    ['a file that is neither array nor object', 'johndoe', [/expected an array of users or an object/]],
    ['a number', 42, [/expected an array/]],
    ['null', null, [/expected an array/]],
    ['a row that is not an object', [user(), 'johndoe'], [/expected a user object/]],
    ['users wrapped in an object', { users: [user()] }, [/found an array \(an array of users goes at the top/]],
    ['a missing hashed_password', [{ username: 'johndoe' }], [/hashed_password is required/]],
    ['an empty hashed_password', [user({ hashed_password: '' })], [/hashed_password must NOT have fewer than 1 characters/]],
    ['a missing username', [{ hashed_password: bcrypt }], [/username is required/]],
    ['a username that is not text', [user({ username: 7 })], [/username must be string/]],
    ['an unknown field', [user({ is_superuser: true })], [/is_superuser is not a known field/]],
    ['a bad e-mail', [user({ email: 'john at example.com' })], [/email must be an e-mail address/]],
    ['a NUL in the full name', [user({ full_name: 'John\u0000Doe' })], [/full_name must not contain NUL/]],
    ['a full name over 200 characters', [user({ full_name: 'J'.repeat(201) })], [/full_name must NOT have more than 200/]],
    ['disabled as text', [user({ disabled: 'false' })], [/disabled must be boolean/]],
    ['is_admin as a number', [user({ is_admin: 1 })], [/is_admin must be boolean/]],
    ['an invalid e-mail as username', [user({ username: 'john@doe@example.com' })], [/contains "@" but is not a valid e-mail address/]],
    ['a bcrypt cost over the limit', [user({ hashed_password: bcrypt.replace(/^\$2b\$\d\d\$/, '$2b$20$') })], [/bcrypt cost 20 exceeds the limit/]],
    ['a fake_users_db key that differs from its username', { jane: user({ username: 'janet' }) }, [/username "janet" differs from its key "jane"/]],
    ['a bad fake_users_db key without username', { 'x y': { hashed_password: bcrypt } }, [/username "x y" must be/]],
    ['several problems in one row, all reported', [user({ username: 'o', disabled: 'no', hashed_password: '$2b$12$short' })],
      [/disabled must be boolean/, /username "o" must be/, /malformed bcrypt hash/]],
    ['a full-stack row without e-mail', [{ hashed_password: bcrypt, is_active: true }], [/email is required/]],
    ['a full-stack row with is_active as text', [{ email: 'a@example.com', hashed_password: bcrypt, is_active: 'yes' }], [/is_active must be boolean/]],
    ['a full-stack row with an unknown field', [{ email: 'a@example.com', hashed_password: argon2, is_superuser: false, role: 'x' }], [/role is not a known field/]],
    ['duplicate usernames in an array, by case', [user(), user({ username: 'JOHNDOE' })], [/duplicate username "JOHNDOE": row 1/]],
    ['an e-mail username clashing with another row\'s e-mail', [user({ username: 'john@example.com' }), user({ username: 'other', email: 'JOHN@example.com' })],
      [/duplicate e-mail "JOHN@example.com": row 1/]],
    ['duplicate full-stack e-mails', [{ email: 'a@example.com', hashed_password: bcrypt, is_active: true }, { email: 'A@Example.COM', hashed_password: argon2, is_active: true }],
      [/duplicate username "A@Example.COM": row 1 has it too \("a@example.com", ignoring case and width\)$/]]
  ]
  for (const [name, data, expected] of cases) {
    it(`refuses ${name}`, () => {
      const messages = errorsOf(parseUserImport(data)).map(e => e.message)
      assert.equal(messages.length, expected.length, JSON.stringify(messages))
      expected.forEach((pattern, i) => assert.match(messages[i] ?? '', pattern))
    })
  }

  it('reports errors by 1-based row, with the key for a fake_users_db, row 0 for the whole file', () => {
    assert.deepEqual(errorsOf(parseUserImport([user(), user({ username: 'ok-user', hashed_password: 'x' })])).map(e => e.row), [2])
    assert.deepEqual(errorsOf(parseUserImport({ a1b: user({ username: 'a1b', hashed_password: 'x' }) }))[0]?.key, 'a1b')
    assert.equal(errorsOf(parseUserImport('x'))[0]?.row, 0)
  })

  it('imports nothing when one row of many is bad', () => {
    const rows = Array.from({ length: 20 }, (_, i) => user({ username: `user${i}` }))
    rows[13] = user({ username: 'user13', hashed_password: 'plain' })
    assert.deepEqual(errorsOf(parseUserImport(rows)).map(e => e.row), [14])
  })

  const accepted: Array<[string, unknown, Partial<NormalisedRow>]> = [
    ['nulls for every optional field', [user({ email: null, full_name: null, disabled: null, is_admin: null })],
      { email: null, full_name: null, disabled: false, is_admin: false }],
    ['an empty full name, as no name', [user({ full_name: '' })], { full_name: null }],
    ['an e-mail as username, with the e-mail left out', [user({ username: 'Admin@Example.com' })],
      { username: 'Admin@Example.com', email: 'Admin@Example.com' }],
    ['an e-mail as username, with the same e-mail in another case', [user({ username: 'admin@example.com', email: 'ADMIN@example.com' })],
      { username: 'admin@example.com', email: 'ADMIN@example.com' }],
    ['a username of 64 characters', [user({ username: 'a'.repeat(64) })], { username: 'a'.repeat(64) }],
    ['a fake_users_db value without username', { johndoe: { hashed_password: bcrypt } }, { key: 'johndoe', username: 'johndoe' }],
    ['a full-stack row without id, is_active or is_superuser', [{ email: 'a@example.com', hashed_password: bcrypt, full_name: null, is_active: true }],
      { username: 'a@example.com', disabled: false, is_admin: false }]
  ]
  for (const [name, data, expected] of accepted) {
    it(`accepts ${name}`, () => {
      const [row] = rowsOf(parseUserImport(data))
      assert.ok(row)
      for (const [field, value] of Object.entries(expected)) assert.deepEqual(row[field as keyof NormalisedRow], value, field)
    })
  }
})

describe('parseUserImport: hashes beyond the cost bound (issue 18)', () => {
  const [bcrypt, pbkdf2, argon2i] = (load('users-array.json') as Array<{ hashed_password: string }>).map(row => row.hashed_password)
  const argon2id = (load('fullstack-users.json') as Array<{ hashed_password: string }>)[1]!.hashed_password
  const withCost = {
    bcrypt: (cost: string) => bcrypt!.replace(/^\$2b\$\d\d\$/, `$2b$${cost}$`),
    pbkdf2: (rounds: number) => pbkdf2!.replace(/^\$pbkdf2-sha256\$\d+\$/, `$pbkdf2-sha256$${rounds}$`),
    argon2: (params: string) => argon2id.replace('m=65536,t=3,p=4', params)
  }

  it('refuses each kind whose verification would cost more than a login may, naming the row', () => {
    const rows = [
      { username: 'tutorial', hashed_password: withCost.bcrypt('12') },
      { username: 'bcrypt16', hashed_password: withCost.bcrypt('16') },
      { username: 'pbkdf2owasp', hashed_password: withCost.pbkdf2(600_000) },
      { username: 'pbkdf2heavy', hashed_password: withCost.pbkdf2(10_000_000) },
      { username: 'cffi', hashed_password: argon2id },
      { username: 'argon2big', hashed_password: withCost.argon2('m=2097152,t=1,p=4') },
      { username: 'argon2long', hashed_password: withCost.argon2('m=65536,t=5,p=4') },
      { username: 'argon2i', hashed_password: argon2i }
    ]
    const errors = errorsOf(parseUserImport(rows))
    assert.deepEqual(errors.map(e => e.row), [2, 4, 6, 7], JSON.stringify(errors))
    assert.match(errors[0]!.message, /^hashed_password: bcrypt cost 16 exceeds the limit of 12 \(a login may cost at most the work of bcrypt cost 12 and 100 MiB/)
    assert.match(errors[1]!.message, /pbkdf2-sha256 rounds 10000000 exceed the limit of 600000/)
    assert.match(errors[2]!.message, /argon2 memory 2097152 KiB exceeds the limit of 102400 KiB/)
    assert.match(errors[3]!.message, /argon2 memory × passes \(65536 KiB × 5\) exceeds the limit of 307200 KiB/)
  })

  it('names the key of a fake_users_db entry beyond the bound', () => {
    const errors = errorsOf(parseUserImport({ johndoe: { username: 'johndoe', hashed_password: withCost.bcrypt('13') } }))
    assert.deepEqual(errors.map(e => [e.row, e.key]), [[1, 'johndoe']])
    assert.match(errors[0]!.message, /bcrypt cost 13 exceeds the limit of 12/)
  })
})

describe('detectImportShape', () => {
  const bcrypt = (load('users-array.json') as Array<{ hashed_password: string }>)[0]!.hashed_password
  const table: Array<[string, unknown, ImportShape | undefined]> = [
    ['an object', { johndoe: {} }, 'fake_users_db'],
    ['an array of rows with usernames', [{ username: 'a' }], 'users'],
    ['an array of full-stack rows', [{ email: 'a@example.com', is_active: true, is_superuser: false }], 'fullstack'],
    ['an array mixing both', [{ username: 'a' }, { email: 'a@example.com', is_superuser: false }], 'users'],
    ['an empty array', [], 'users'],
    ['text', 'x', undefined],
    ['null', null, undefined]
  ]
  for (const [name, data, shape] of table) {
    it(`calls ${name} ${shape ?? 'nothing'}`, () => assert.equal(detectImportShape(data), shape))
  }

  it('can be forced, and a file of another shape is refused as a whole', () => {
    assert.match(errorsOf(parseUserImport({ johndoe: {} }, { shape: 'fullstack' }))[0]?.message ?? '', /a fullstack file is an array/)
    assert.match(errorsOf(parseUserImport([], { shape: 'fake_users_db' }))[0]?.message ?? '', /object of users by username/)
    const forced = errorsOf(parseUserImport([{ username: 'johndoe', hashed_password: bcrypt }], { shape: 'fullstack' }))
    assert.deepEqual(forced.map(e => e.message), ['email is required', 'username is not a known field'])
  })
})

describe('findExistingConflicts', () => {
  const rows = rowsOf(parseUserImport(load('users-array.json')))

  it('asks once for every identity key and names the rows that clash', async () => {
    const asked: string[][] = []
    const errors = await findExistingConflicts(rows, async keys => {
      asked.push(keys)
      return keys.filter(key => key === 'carol' || key === 'bob@example.com' || key === 'admin@example.com')
    })
    assert.deepEqual(asked, [['bob', 'bob@example.com', 'carol', 'dave', 'admin@example.com']])
    assert.deepEqual(errors, [
      { row: 1, message: 'e-mail "bob@example.com" belongs to an existing account' },
      { row: 2, message: 'username "Carol" belongs to an existing account' },
      { row: 4, message: 'username "admin@example.com" belongs to an existing account' }
    ])
  })

  it('finds nothing when no key is taken, and asks nothing for no rows', async () => {
    assert.deepEqual(await findExistingConflicts(rows, async () => []), [])
    assert.deepEqual(await findExistingConflicts([], async () => { throw new Error('not called') }), [])
  })
})
