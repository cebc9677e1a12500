import { Type, type Static } from '@sinclair/typebox'
import { Ajv, type ErrorObject } from 'ajv'
import addFormats from 'ajv-formats'
import { Nullable } from '../schemas/common.js'
import { UserCreate } from '../schemas/user.js'
import { formatOf, hashProblem } from './hash-formats.js'
import { identityKey, isEmailAddress } from '../identifiers.js'
import { stringProblem } from '../text.js'
import { isEmailLogin, loginNameProblem } from './login-names.js'

/*
 * Parsing and validation of a user import file (CONTRACT.md, "Importing users"), without a
 * database: the caller reads and JSON-parses the file, calls parseUserImport, checks the rows
 * against existing accounts with findExistingConflicts, and imports only when both report nothing.
 *
 * Three shapes are read:
 * - 'users': the contract's array of {username, email?, full_name?, hashed_password, disabled?, is_admin?};
 * - 'fake_users_db': FastAPI's tutorial object, keys are usernames and values those objects
 *   (the value's username may be left out; when present it must equal the key);
 * - 'fullstack': rows of FastAPI's full-stack template `user` table,
 *   {id?, email, hashed_password, is_active, is_superuser, full_name}.
 *
 * E-mail as username: the full-stack template logs users in with their e-mail, and CONTRACT.md
 * lets FIRST_SUPERUSER be an e-mail address. Such a user is represented with username = the
 * address AND email = the address. The login field then finds it either way (an '@' in the login
 * looks up e-mails), and no ordinary username can collide with it, since usernames may not contain
 * '@'. A 'users' or 'fake_users_db' row may use that form too: a username that is a valid e-mail
 * address, with `email` left out or the same address.
 */

// The project's own rules, taken from the registration schema so both stay the same.
const { email: Email, full_name: FullName } =
  Type.Required(Type.Pick(UserCreate, ['email', 'full_name'])).properties

/** Any non-empty text: which hash formats are accepted is checked by hash-formats.ts. */
const HashedPassword = Type.String({ minLength: 1, maxLength: 1024 })
const Flag = Type.Optional(Nullable(Type.Boolean()))
/** A username, or an e-mail address used as the username; the rules are checked in code. */
const LoginName = Type.String({ minLength: 1, maxLength: 254 })

const userFields = {
  email: Type.Optional(Nullable(Email)),
  full_name: Type.Optional(Nullable(FullName)),
  hashed_password: HashedPassword,
  disabled: Flag,
  is_admin: Flag
}

/** A row of the contract's array shape. `null` stands for a missing optional field, as Python's None exports. */
export const ImportUserRowSchema = Type.Object({ username: LoginName, ...userFields }, { additionalProperties: false })
export type ImportUserRow = Static<typeof ImportUserRowSchema>

/** A value of FastAPI's tutorial `fake_users_db` (its UserInDB); the key of the entry is the username. */
export const FakeUsersDbEntrySchema = Type.Object({ username: Type.Optional(LoginName), ...userFields }, { additionalProperties: false })
export type FakeUsersDbEntry = Static<typeof FakeUsersDbEntrySchema>

/** A row of FastAPI's full-stack template `user` table. `id` is read and dropped: accounts get new ids. */
export const FullstackUserRowSchema = Type.Object({
  id: Type.Optional(Type.Unknown()),
  email: Email,
  hashed_password: HashedPassword,
  is_active: Type.Optional(Type.Boolean({ default: true })),
  is_superuser: Type.Optional(Type.Boolean({ default: false })),
  full_name: Type.Optional(Nullable(FullName))
}, { additionalProperties: false })
export type FullstackUserRow = Static<typeof FullstackUserRowSchema>

export const ImportShapeSchema = Type.Union([Type.Literal('users'), Type.Literal('fake_users_db'), Type.Literal('fullstack')])
export type ImportShape = Static<typeof ImportShapeSchema>

/** A valid row, in this project's terms (the fields of the users table, before ids and keys). */
export const NormalisedRowSchema = Type.Object({
  /** 1-based position in the file: array index + 1, or the entry's position in a fake_users_db object */
  row: Type.Integer({ minimum: 1 }),
  /** the entry's key, in a fake_users_db object */
  key: Type.Optional(Type.String()),
  username: Type.String(),
  email: Nullable(Type.String()),
  full_name: Nullable(Type.String()),
  password_hash: Type.String(),
  hash_format: Type.Union([Type.Literal('bcrypt'), Type.Literal('pbkdf2-sha256'), Type.Literal('argon2')]),
  disabled: Type.Boolean(),
  is_admin: Type.Boolean()
})
export type NormalisedRow = Static<typeof NormalisedRowSchema>

/** One problem, by row (1-based; 0 for the file as a whole) and, in a fake_users_db object, key. */
export const ImportErrorSchema = Type.Object({
  row: Type.Integer({ minimum: 0 }),
  key: Type.Optional(Type.String()),
  message: Type.String()
})
export type ImportError = Static<typeof ImportErrorSchema>

export type ImportResult = { ok: true, shape: ImportShape, rows: NormalisedRow[] } | { ok: false, errors: ImportError[] }

// Ajv with the formats POST /register uses (plugins/validation.ts), so an e-mail valid there is valid here.
const ajv = new Ajv({ allErrors: true, strict: false, coerceTypes: false, useDefaults: false })
addFormats.default(ajv)
ajv.addFormat('email', isEmailAddress)
const checks = {
  users: ajv.compile<ImportUserRow>(ImportUserRowSchema),
  fake_users_db: ajv.compile<FakeUsersDbEntry>(FakeUsersDbEntrySchema),
  fullstack: ajv.compile<FullstackUserRow>(FullstackUserRowSchema)
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/**
 * Which shape `data` (a JSON-parsed file) has: an object is a fake_users_db; an array is
 * 'fullstack' when no row has a `username` and some row has `is_active` or `is_superuser`,
 * else 'users'. Undefined for anything else.
 */
export function detectImportShape (data: unknown): ImportShape | undefined {
  if (isRecord(data)) return 'fake_users_db'
  if (!Array.isArray(data)) return undefined
  const rows = data.filter(isRecord)
  if (!rows.some(row => 'username' in row) && rows.some(row => 'is_active' in row || 'is_superuser' in row)) return 'fullstack'
  return 'users'
}

/** Ajv's errors as one message per field (the key), in the row's terms. */
function describeErrors (errors: ErrorObject[]): Map<string, string> {
  const byField = new Map<string, string>()
  for (const error of errors) {
    if (error.keyword === 'anyOf') continue // a nullable field: the first branch's error says more
    const params = error.params as Record<string, unknown>
    let field = error.instancePath.slice(1)
    let message = error.message ?? 'is invalid'
    if (error.keyword === 'required') {
      field = String(params.missingProperty)
      message = 'is required'
    } else if (error.keyword === 'additionalProperties') {
      field = String(params.additionalProperty)
      message = 'is not a known field'
    } else if (error.keyword === 'format' && params.format === 'email') {
      message = 'must be an e-mail address'
    } else if (error.keyword === 'pattern' && field === 'full_name') {
      message = 'must not contain NUL characters'
    }
    if (!byField.has(field)) byField.set(field, `${field} ${message}`)
  }
  return byField
}

/** Why `username` cannot be used (login-names.ts), or undefined; an e-mail username's `email` must match it. */
function usernameProblem (username: string, email: string | null): string | undefined {
  const problem = loginNameProblem(username)
  if (problem !== undefined) return `username ${problem}`
  if (isEmailLogin(username) && email !== null && identityKey(email) !== identityKey(username)) {
    return `username ${JSON.stringify(username)} is an e-mail address, so email must be left out or be the same address`
  }
  return undefined
}

type Candidate = { row: number, key?: string, value: unknown }
const text = (value: unknown) => typeof value === 'string' ? value : undefined

/**
 * Validates one row of the given shape: the normalised row, or every problem found in it
 * (the schema's, then the username's and the hash's where those fields are at least text).
 */
function normaliseRow (shape: ImportShape, { row, key, value }: Candidate): NormalisedRow | string[] {
  if (!isRecord(value)) {
    return [Array.isArray(value) ? 'expected a user object, found an array (an array of users goes at the top of the file)' : 'expected a user object']
  }
  // An empty full name is no name (the registration schema wants at least one character).
  const input = value.full_name === '' ? { ...value, full_name: null } : value
  const check = checks[shape]
  const fieldProblems = check(input) ? new Map<string, string>() : describeErrors(check.errors ?? [])
  // Text no database may receive (src/text.ts): NUL or a lone surrogate, in any field, as at /register.
  for (const [field, fieldValue] of Object.entries(input)) {
    const problem = typeof fieldValue === 'string' ? stringProblem(fieldValue) : undefined
    if (problem !== undefined && !fieldProblems.has(field)) fieldProblems.set(field, `${field} ${problem}`)
  }
  const problems = [...fieldProblems.values()]

  // Fullstack rows log in with their e-mail; the other shapes have a username (or a fake_users_db key).
  const ownUsername = text(input[shape === 'fullstack' ? 'email' : 'username'])
  const username = ownUsername ?? key
  const email = text(input.email) ?? null
  if (key !== undefined && ownUsername !== undefined && ownUsername !== key) {
    problems.push(`username ${JSON.stringify(ownUsername)} differs from its key ${JSON.stringify(key)}`)
  }
  if (shape !== 'fullstack' && username !== undefined && !fieldProblems.has('username')) {
    const problem = usernameProblem(username, email)
    if (problem !== undefined) problems.push(problem)
  }
  const hash = text(input.hashed_password)
  const format = hash === undefined ? undefined : formatOf(hash)
  if (hash !== undefined && !fieldProblems.has('hashed_password')) {
    const problem = hashProblem(hash)
    if (problem !== undefined) problems.push(`hashed_password: ${problem}`)
  }
  if (problems.length > 0 || username === undefined || hash === undefined || format === undefined) return problems

  // Valid for its schema from here on.
  const fullName = (input as { full_name?: string | null }).full_name ?? null
  const flags = shape === 'fullstack'
    ? { disabled: (input as FullstackUserRow).is_active === false, is_admin: (input as FullstackUserRow).is_superuser === true }
    : { disabled: (input as ImportUserRow).disabled === true, is_admin: (input as ImportUserRow).is_admin === true }
  return {
    row,
    ...(key === undefined ? {} : { key }),
    username,
    // e-mail as username: the address is the e-mail too (see the note at the top)
    email: username.includes('@') ? (email ?? username) : email,
    full_name: fullName,
    password_hash: hash,
    hash_format: format.name,
    ...flags
  }
}

/**
 * Errors for every row whose username or e-mail repeats an earlier row's, compared by identityKey
 * (NFKC, lower case). An e-mail-as-username row that repeats one is reported once, as a username.
 */
function duplicateErrors (rows: readonly NormalisedRow[]): ImportError[] {
  const errors: ImportError[] = []
  const seen = { username: new Map<string, NormalisedRow>(), email: new Map<string, NormalisedRow>() }
  for (const row of rows) {
    let reported: string | undefined
    for (const field of ['username', 'email'] as const) {
      const value = row[field]
      if (value === null) continue
      const key = identityKey(value)
      const first = seen[field].get(key)
      if (first === undefined) {
        seen[field].set(key, row)
      } else if (reported !== key) {
        const original = first[field] === value ? '' : ` (${JSON.stringify(first[field])}, ignoring case and width)`
        errors.push(at(row, `duplicate ${field === 'email' ? 'e-mail' : 'username'} ${JSON.stringify(value)}: row ${first.row} has it too${original}`))
        reported = key
      }
    }
  }
  return errors
}

const at = ({ row, key }: { row: number, key?: string | undefined }, message: string): ImportError =>
  key === undefined ? { row, message } : { row, key, message }

/**
 * Validates an import file's content (already JSON-parsed). `shape` forces a shape; by default it
 * is detected (detectImportShape). Every row is checked: its fields against the shape's schema,
 * the username by the project's rules (or the e-mail-as-username form), the hash by
 * hash-formats.ts (a known, well-formed format within HASH_WORK_LIMITS), and usernames and e-mails
 * for duplicates within the file, by identityKey. Returns every valid row in file order, or every
 * error sorted by row: the caller imports nothing unless `ok`. Existing accounts are not consulted
 * (see findExistingConflicts). Never throws.
 *
 * Note: JSON.parse keeps the last of two equal keys, so a fake_users_db with a key written twice
 * reaches this function with one entry; only the raw text can show that.
 */
export function parseUserImport (data: unknown, options: { shape?: ImportShape } = {}): ImportResult {
  const shape = options.shape ?? detectImportShape(data)
  if (shape === undefined) {
    return { ok: false, errors: [{ row: 0, message: 'expected an array of users or an object of users by username (fake_users_db)' }] }
  }
  let candidates: Candidate[]
  if (shape === 'fake_users_db') {
    if (!isRecord(data)) return { ok: false, errors: [{ row: 0, message: 'a fake_users_db file is an object of users by username' }] }
    candidates = Object.entries(data).map(([key, value], index) => ({ row: index + 1, key, value }))
  } else {
    if (!Array.isArray(data)) return { ok: false, errors: [{ row: 0, message: `a ${shape} file is an array of users` }] }
    candidates = data.map((value: unknown, index) => ({ row: index + 1, value }))
  }

  const rows: NormalisedRow[] = []
  const errors: ImportError[] = []
  for (const candidate of candidates) {
    const result = normaliseRow(shape, candidate)
    if (Array.isArray(result)) errors.push(...result.map(message => at(candidate, message)))
    else rows.push(result)
  }
  // Duplicates among the otherwise valid rows (a row with other errors is reported for those first).
  errors.push(...duplicateErrors(rows))
  if (errors.length > 0) return { ok: false, errors: errors.sort((a, b) => a.row - b.row) }
  return { ok: true, shape, rows }
}

/**
 * Errors for rows whose username or e-mail an existing account already has. `takenKeys` gets
 * identity keys (identityKey of each row's username and e-mail, deduplicated) and resolves to
 * those that an account already has, as its username key OR its e-mail key: a login containing
 * '@' is looked up among e-mails, and an e-mail-as-username account has both.
 * One call for all rows; the caller may split it into batches.
 */
export async function findExistingConflicts (
  rows: readonly NormalisedRow[],
  takenKeys: (keys: string[]) => Promise<Iterable<string>>
): Promise<ImportError[]> {
  const keys = new Set<string>()
  for (const row of rows) {
    keys.add(identityKey(row.username))
    if (row.email !== null) keys.add(identityKey(row.email))
  }
  if (keys.size === 0) return []
  const taken = new Set(await takenKeys([...keys]))
  const errors: ImportError[] = []
  for (const row of rows) {
    if (taken.has(identityKey(row.username))) {
      errors.push(at(row, `username "${row.username}" belongs to an existing account`))
    }
    if (row.email !== null && identityKey(row.email) !== identityKey(row.username) && taken.has(identityKey(row.email))) {
      errors.push(at(row, `e-mail "${row.email}" belongs to an existing account`))
    }
  }
  return errors
}
