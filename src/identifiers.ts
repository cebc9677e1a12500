import { createHash, randomBytes, randomUUID } from 'node:crypto'

/** Entity ids (users, sessions, items): random UUIDs; they identify, they do not authenticate. */
export const newId = (): string => randomUUID()

/** Refresh tokens: 256 bits from the CSPRNG (ASVS 7.2.3), opaque to clients. */
export const newRefreshToken = (): string => randomBytes(32).toString('base64url')

/** Only this digest is stored: a database leak does not leak usable refresh tokens. */
export const hashToken = (token: string): string => createHash('sha256').update(token).digest('base64url')

/** Case- and width-insensitive key for usernames and e-mails, enforced unique by the database. */
export const identityKey = (value: string): string => value.normalize('NFKC').toLowerCase()
