import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto'

/*
 * Secrets at rest (ASVS 11.x): TOTP secrets are encrypted with AES-256-GCM under
 * DATA_ENCRYPTION_KEY (node:crypto), the user id as associated data, so a row copied to another
 * user does not decrypt. Without a key (development only: production refuses to start once TOTP
 * is in use, src/app.ts) a secret is stored marked `plain:`, and read back once a key is set.
 */

const VERSION = 'v1'
const PLAIN = 'plain'

/** The key's problem, or undefined when `base64` decodes to exactly 32 bytes. */
export function encryptionKeyProblem (base64: string): string | undefined {
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(base64)) return 'expected 32 random bytes in base64 (openssl rand -base64 32)'
  const bytes = Buffer.from(base64, 'base64')
  return bytes.length === 32 ? undefined : `expected 32 bytes in base64, got ${bytes.length} (openssl rand -base64 32)`
}

/** Thrown when a stored secret cannot be read (wrong key, a row moved to another user, damage). */
export class SecretUnreadableError extends Error {
  override name = 'SecretUnreadableError'
}

/**
 * Encrypts and decrypts small secrets bound to an owner id.
 * @param keyBase64 32 bytes in base64 (checked by the configuration); undefined: development mode
 * @throws Error for a key that is not 32 bytes
 */
export function createSecretBox (keyBase64: string | undefined) {
  let key: Buffer | undefined
  if (keyBase64 !== undefined) {
    const problem = encryptionKeyProblem(keyBase64)
    if (problem !== undefined) throw new Error(`DATA_ENCRYPTION_KEY: ${problem}`)
    key = Buffer.from(keyBase64, 'base64')
  }
  return {
    /** Whether secrets are encrypted (a key is set). */
    encrypts: key !== undefined,

    /** `v1:<iv>:<tag>:<ciphertext>` (base64url), or `plain:<secret>` without a key. */
    seal (secret: string, ownerId: string): string {
      if (key === undefined) return `${PLAIN}:${secret}`
      const iv = randomBytes(12)
      const cipher = createCipheriv('aes-256-gcm', key, iv)
      cipher.setAAD(Buffer.from(ownerId))
      const body = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()])
      return [VERSION, iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), body.toString('base64url')].join(':')
    },

    /** The secret in clear. @throws SecretUnreadableError */
    open (sealed: string, ownerId: string): string {
      const [version, ...parts] = sealed.split(':')
      if (version === PLAIN && parts.length === 1) return parts[0]!
      if (version !== VERSION || parts.length !== 3) throw new SecretUnreadableError('unknown secret format')
      if (key === undefined) throw new SecretUnreadableError('an encrypted secret, and DATA_ENCRYPTION_KEY is not set')
      try {
        const [iv, tag, body] = parts.map(part => Buffer.from(part!, 'base64url'))
        const decipher = createDecipheriv('aes-256-gcm', key, iv!)
        decipher.setAAD(Buffer.from(ownerId))
        decipher.setAuthTag(tag!)
        return Buffer.concat([decipher.update(body!), decipher.final()]).toString('utf8')
      } catch {
        throw new SecretUnreadableError('the secret does not decrypt with DATA_ENCRYPTION_KEY for this user')
      }
    }
  }
}
export type SecretBox = ReturnType<typeof createSecretBox>

/** Recovery codes: 64 random bits each (ASVS 6.6: lookup secrets), shown as `xxxx-xxxx-xxxx-xxxx` (hex). */
export function newRecoveryCode (): string {
  return randomBytes(8).toString('hex').match(/.{4}/g)!.join('-')
}

/**
 * The stored form of a recovery code: SHA-256 of it without separators, in lower case (64 random
 * bits need no slow hash: nothing to guess offline from a dictionary).
 */
export function hashRecoveryCode (code: string): string {
  return createHash('sha256').update(code.replace(/[\s-]/g, '').toLowerCase()).digest('base64url')
}
