import { createHash, createPublicKey, generateKeyPairSync, type JsonWebKey } from 'node:crypto'
import type { PublicJwk } from '../schemas/jwk.js'
import type { KeyStore, SigningKeyRecord } from './store.js'

export type SigningAlgorithm = 'HS256' | 'EdDSA'

/**
 * The keys that sign and verify access tokens.
 * - HS256 with a configured secret: one static key, no JWKS.
 * - EdDSA (Ed25519) otherwise: key pairs kept in the database, so restarts and other
 *   instances on the same database sign and verify alike. The newest unretired key signs;
 *   retired keys keep verifying until the tokens they signed have expired.
 */
export interface KeyRing {
  readonly algorithm: SigningAlgorithm
  /** the key to sign with, and its kid (none for HS256) */
  signingKey (): { key: string, kid?: string }
  /** the key that verifies a token with this kid, or undefined */
  verificationKey (kid: unknown): Promise<string | undefined>
  jwks (): { keys: PublicJwk[] }
  /** re-reads the keys from the store (rotation by the CLI or another instance) */
  reload (): Promise<void>
}

export function createHmacKeyRing (secret: string): KeyRing {
  return {
    algorithm: 'HS256',
    signingKey: () => ({ key: secret }),
    verificationKey: async () => secret,
    jwks: () => ({ keys: [] }),
    reload: async () => {}
  }
}

/** RFC 7638 thumbprint of an OKP key: a stable kid derived from the key itself. */
const thumbprint = (jwk: JsonWebKey) =>
  createHash('sha256').update(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x })).digest('base64url')

export function generateSigningKey (now = Date.now()): SigningKeyRecord {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519')
  const jwk = publicKey.export({ format: 'jwk' })
  return {
    kid: thumbprint(jwk),
    alg: 'EdDSA',
    public_jwk: JSON.stringify(jwk),
    private_key: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    created_at: now,
    retired_at: null
  }
}

/** Makes a new key the signing key and retires the others; returns its kid. */
export async function rotateSigningKey (store: KeyStore, now = Date.now()): Promise<string> {
  const key = generateSigningKey(now)
  await store.insert(key)
  await store.retireAllExcept(key.kid, now)
  return key.kid
}

interface LoadedKey { record: SigningKeyRecord, publicPem: string, jwk: PublicJwk }

export async function createStoredKeyRing (store: KeyStore, options: { verifyRetiredForMs: number }): Promise<KeyRing> {
  let keys = new Map<string, LoadedKey>()
  let signer: LoadedKey | undefined
  let lastReload = 0

  const load = async () => {
    const now = Date.now()
    lastReload = now
    // Retired keys outlive the last token they signed, then go.
    await store.deleteRetiredBefore(now - options.verifyRetiredForMs)
    let records = await store.list()
    if (!records.some(r => r.retired_at === null)) {
      await store.insert(generateSigningKey(now))
      records = await store.list()
    }
    const next = new Map<string, LoadedKey>()
    for (const record of records) {
      const jwk = JSON.parse(record.public_jwk) as JsonWebKey
      const publicPem = createPublicKey({ key: jwk, format: 'jwk' }).export({ format: 'pem', type: 'spki' }).toString()
      next.set(record.kid, { record, publicPem, jwk: { kid: record.kid, kty: 'OKP', crv: 'Ed25519', x: String(jwk.x), alg: 'EdDSA', use: 'sig' } })
    }
    keys = next
    // Newest active key; instances that generated keys at the same moment agree on the same one.
    signer = [...next.values()]
      .filter(k => k.record.retired_at === null)
      .sort((a, b) => b.record.created_at - a.record.created_at || a.record.kid.localeCompare(b.record.kid))[0]
  }
  await load()

  return {
    algorithm: 'EdDSA',
    signingKey () {
      if (signer === undefined) throw new Error('no signing key loaded')
      return { key: signer.record.private_key, kid: signer.record.kid }
    },
    async verificationKey (kid) {
      if (typeof kid !== 'string') return undefined
      // An unknown kid may come from a key another instance just made: look again, at most once a second.
      if (!keys.has(kid) && Date.now() - lastReload > 1000) await load()
      return keys.get(kid)?.publicPem
    },
    jwks: () => ({ keys: [...keys.values()].map(k => k.jwk) }),
    reload: load
  }
}
