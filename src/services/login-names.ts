import { Type } from '@sinclair/typebox'
import { Ajv } from 'ajv'
import addFormats from 'ajv-formats'
import { isEmailAddress } from '../identifiers.js'
import { UserCreate } from '../schemas/user.js'

// The registration schema's rules, so POST /register, FIRST_SUPERUSER and imports agree.
const { username: Username, email: Email } = Type.Required(Type.Pick(UserCreate, ['username', 'email'])).properties
const ajv = new Ajv({ strict: false, coerceTypes: false })
addFormats.default(ajv)
ajv.addFormat('email', isEmailAddress) // as plugins/validation.ts: internationalised domains too
const usernameCheck = ajv.compile(Username)
const emailCheck = ajv.compile(Email)
// Plain booleans: Ajv's type guards would narrow `name` to never after the first check.
const isUsername = (value: string): boolean => usernameCheck(value)
const isEmail = (value: string): boolean => emailCheck(value)

/**
 * Why `name` cannot name an account, or undefined. A name is a username (3 to 64 letters,
 * digits, `_`, `.`, `-`) or an e-mail address used as the username, as FastAPI's full-stack
 * template does (`FIRST_SUPERUSER=admin@example.com`): such an account has the address as both
 * username and e-mail, and logs in with it. Usernames cannot contain '@', so the two never clash.
 */
export function loginNameProblem (name: string): string | undefined {
  if (isUsername(name)) return undefined
  if (!name.includes('@')) return `${JSON.stringify(name)} must be 3 to 64 letters, digits, "_", "." or "-", starting with a letter or digit, or an e-mail address`
  if (!isEmail(name)) return `${JSON.stringify(name)} contains "@" but is not a valid e-mail address`
  return undefined
}

/** True when the (valid) name is an e-mail address used as the username. */
export const isEmailLogin = (name: string) => name.includes('@')
