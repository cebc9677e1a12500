import { pbkdf2 } from 'node:crypto'
import { promisify } from 'node:util'
import { hash as argon2Hash } from '@node-rs/argon2'
import { hash as bcryptHash } from '@node-rs/bcrypt'

/** passlib's ab64 encoding (base64, no padding, '.' for '+'). */
export const ab64 = (bytes: Buffer) => bytes.toString('base64').replace(/=+$/, '').replaceAll('+', '.')
export const SALT = Buffer.from('saltsaltsaltsalt')
/** A passlib pbkdf2-sha256 hash of `password` with `rounds` (made here, as passlib would). */
export async function pbkdf2Of (password: string, rounds: number) {
  const digest = await promisify(pbkdf2)(password, SALT, rounds, 32, 'sha256')
  return `$pbkdf2-sha256$${rounds}$${ab64(SALT)}$${ab64(digest)}`
}

/**
 * Hashes beyond the bound, as the issue found them stored (the old limits accepted them): their
 * parameters are written into well-formed hashes, as someone editing the database would; a
 * verification that computed them would take seconds (argon2: 2 GiB).
 */
export async function overBoundHashes () {
  const bcrypt = await bcryptHash('correct horse battery staple', 4)
  const argon2 = await argon2Hash('correct horse battery staple', { memoryCost: 1024, timeCost: 1 })
  return {
    'bcrypt cost 16': bcrypt.replace('$2b$04$', '$2b$16$'),
    'pbkdf2-sha256 10 million rounds': (await pbkdf2Of('correct horse battery staple', 1000)).replace('$1000$', '$10000000$'),
    'argon2id 2 GiB': argon2.replace(/m=1024,t=1/, 'm=2097152,t=1')
  }
}
