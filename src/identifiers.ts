import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto'
import { domainToASCII, domainToUnicode } from 'node:url'
import addFormats from 'ajv-formats'

/** Entity ids (users, sessions, items): random UUIDs; they identify, they do not authenticate. */
export const newId = (): string => randomUUID()

/** Refresh tokens: 256 bits from the CSPRNG (ASVS 7.2.3), opaque to clients. */
export const newRefreshToken = (): string => randomBytes(32).toString('base64url')

/** A session's rotation key: 256 bits from the CSPRNG, stored with the session, never sent. */
export const newRotationKey = (): string => randomBytes(32).toString('base64url')

/**
 * The refresh token that succeeds `parent` in the session keyed `rotationKey`: HMAC-SHA256
 * (RFC 2104, node:crypto) of the parent, 256 bits like newRefreshToken. Deterministic, so every
 * replay of `parent` within the reuse interval gets the same successor without it being stored;
 * unpredictable without the key, so an old token stolen from a log does not give its successor.
 * `pepper`, a secret kept outside the database (JWT_SECRET), joins the key: then a copy of the
 * database and an old token do not give the live one either.
 */
export const successorRefreshToken = (rotationKey: string, parent: string, pepper = ''): string =>
  createHmac('sha256', `${pepper}\u0000${rotationKey}`).update(parent).digest('base64url')

/** Only this digest is stored: a database leak does not leak usable refresh tokens. */
export const hashToken = (token: string): string => createHash('sha256').update(token).digest('base64url')

const ASCII = /^\p{ASCII}*$/u
/** ajv-formats' `email` (its default "full" mode): the rule for every ASCII address, as before. */
const ASCII_EMAIL = addFormats.default.get('email') as RegExp
/** The ASCII characters an internationalised domain may contain besides its non-ASCII letters. */
const IDN_ASCII_PART = /^[a-z0-9.-]*$/i

/**
 * The domain of an address as IDNA's ASCII form (UTS #46, as browsers map hosts: `bücher.example`
 * → `xn--bcher-kva.example`), or undefined when it is not a valid internationalised domain or
 * holds ASCII other than letters, digits, `.` and `-` (no `%`: the URL parser would decode it).
 */
function asciiDomain (domain: string): string | undefined {
  if (!IDN_ASCII_PART.test(domain.replace(/\P{ASCII}/gu, ''))) return undefined
  const ascii = domainToASCII(domain) // '' when invalid
  if (ascii === '' || ascii.length > 253 || ascii.split('.').some(label => label.length > 63)) return undefined
  // Only a domain already in its own form, as it reads back from IDNA (case aside): UTS #46 would
  // also map look-alikes (a Kelvin sign, full-width letters, `。`, a soft hyphen) to another
  // domain's name, and an address that reads as one domain must never be stored as, or match, another.
  if (domain.normalize('NFKC') !== domain || domainToUnicode(ascii) !== domain.toLowerCase()) return undefined
  return ascii
}

/**
 * The `email` format of every schema (plugins/validation.ts, imports): an ASCII address as
 * ajv-formats checks it, or one whose domain is internationalised (`jose@bücher.example`) and
 * whose punycode form passes that same check. The local part stays ASCII (an internationalised
 * local part needs SMTPUTF8 from every server on the way).
 */
export function isEmailAddress (value: string): boolean {
  if (ASCII.test(value)) return ASCII_EMAIL.test(value)
  const at = value.lastIndexOf('@')
  if (at === -1) return false
  const domain = asciiDomain(value.slice(at + 1))
  return domain !== undefined && ASCII_EMAIL.test(`${value.slice(0, at)}@${domain}`)
}

/**
 * Case- and width-insensitive key for usernames and e-mails, enforced unique by the database:
 * NFKC, lower case, and an internationalised e-mail domain in its punycode form, so
 * `jose@bücher.example` and `jose@xn--bcher-kva.example` are one address. ASCII keys are as before.
 */
export function identityKey (value: string): string {
  const key = value.normalize('NFKC').toLowerCase()
  const at = key.lastIndexOf('@')
  if (at === -1 || ASCII.test(key.slice(at + 1))) return key
  const domain = asciiDomain(key.slice(at + 1))
  return domain === undefined ? key : `${key.slice(0, at)}@${domain}`
}
