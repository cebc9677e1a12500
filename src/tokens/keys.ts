import { createHash, createPublicKey, generateKeyPairSync, type JsonWebKey } from 'node:crypto'
import type { PublicJwk } from '../schemas/jwk.js'
import type { KeyStore, SigningKeyRecord } from '../stores/auth-store.js'

export type SigningAlgorithm = 'HS256' | 'EdDSA'

/** A signing key as the command line lists it; times are ISO 8601. */
export interface KeyInfo { kid: string, alg: string, created_at: string, signs_from: string, retired_at: string | null }

/**
 * The keys that sign and verify access tokens.
 * - HS256 with a configured secret: one static key, no JWKS.
 * - EdDSA (Ed25519) otherwise: key pairs kept in the store, so restarts and other instances on
 *   the same database sign and verify alike.
 */
export interface KeyRing {
  readonly algorithm: SigningAlgorithm
  /** the key to sign with, and its kid (none for HS256) */
  signingKey (): { key: string, kid?: string }
  /** the PEM or secret that verifies a token with this kid, or undefined */
  verificationKey (kid: unknown): Promise<string | undefined>
  /** the same from the keys in memory, without I/O: undefined when not loaded (then ask verificationKey) */
  loadedKey (kid: unknown): string | undefined
  /** the public keys to publish at /.well-known/jwks.json (RFC 7517) */
  jwks (): { keys: PublicJwk[] }
  /** re-reads the keys from the store (a rotation by the CLI or another instance) */
  reload (): Promise<void>
  /** adds a new key, published at once and signing once every verifier can know it; its kid */
  rotate (): Promise<{ kid: string, signsFrom: Date }>
  /** the stored keys, newest first */
  list (): Promise<KeyInfo[]>
}

export function createHmacKeyRing (secret: string): KeyRing {
  const noKeys = async () => { throw new Error('JWT_SECRET is set: HS256 has no stored keys to rotate') }
  return {
    algorithm: 'HS256',
    signingKey: () => ({ key: secret }),
    verificationKey: async () => secret,
    loadedKey: () => secret,
    jwks: () => ({ keys: [] }),
    reload: async () => {},
    rotate: noKeys,
    list: noKeys
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

interface LoadedKey { record: SigningKeyRecord, publicPem: string, jwk: PublicJwk }

/**
 * Stored Ed25519 keys that rotate without a gap (CONTRACT.md, "Running"):
 * 1. `rotate()` stores a new key. Every instance publishes it at its next reload (at most
 *    `reloadIntervalMs` later), and outside verifiers see it once their cached JWK set expires
 *    (`jwksMaxAgeMs`, the Cache-Control max-age of /.well-known/jwks.json).
 * 2. Only after both delays (`created_at + reloadIntervalMs + jwksMaxAgeMs`) does it sign; until
 *    then the previous key signs. Every instance computes the same signer from the same rows.
 * 3. The keys it replaces are retired, and stay published until every token they signed has
 *    expired (`accessTokenTtlMs`, plus one reload period for instances that signed late).
 * The first key of an empty store signs at once: no token, and no cached set, predates it.
 */
export async function createStoredKeyRing (store: KeyStore, options: { accessTokenTtlMs: number, reloadIntervalMs: number, jwksMaxAgeMs: number }): Promise<KeyRing> {
  const publishDelayMs = options.reloadIntervalMs + options.jwksMaxAgeMs
  let keys = new Map<string, LoadedKey>()
  let signer: LoadedKey | undefined
  let lastReload = 0

  const load = async () => {
    const now = Date.now()
    lastReload = now
    await store.deleteRetiredBefore(now - options.accessTokenTtlMs - 2 * options.reloadIntervalMs)
    let records = await store.list()
    if (!records.some(r => r.retired_at === null)) {
      await store.insert(generateSigningKey(now))
      records = await store.list()
    }
    // Unretired keys, newest first (ties broken by kid, so instances agree).
    const active = records.filter(r => r.retired_at === null)
      .sort((a, b) => b.created_at - a.created_at || a.kid.localeCompare(b.kid))
    // The newest key published long enough, else the longest published one.
    const signing = active.find(r => r.created_at <= now - publishDelayMs) ?? active[active.length - 1]!
    for (const older of active.slice(active.indexOf(signing) + 1)) {
      await store.retire(older.kid, now)
      older.retired_at = now
    }
    const next = new Map<string, LoadedKey>()
    for (const record of records) {
      const jwk = JSON.parse(record.public_jwk) as JsonWebKey
      const publicPem = createPublicKey({ key: jwk, format: 'jwk' }).export({ format: 'pem', type: 'spki' }).toString()
      next.set(record.kid, { record, publicPem, jwk: { kid: record.kid, kty: 'OKP', crv: 'Ed25519', x: String(jwk.x), alg: 'EdDSA', use: 'sig' } })
    }
    keys = next
    signer = next.get(signing.kid)
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
    loadedKey: kid => typeof kid === 'string' ? keys.get(kid)?.publicPem : undefined,
    jwks: () => ({ keys: [...keys.values()].map(k => k.jwk) }),
    reload: load,
    async rotate () {
      const key = generateSigningKey()
      await store.insert(key)
      await load()
      return { kid: key.kid, signsFrom: new Date(key.created_at + publishDelayMs) }
    },
    async list () {
      return (await store.list()).map(r => ({
        kid: r.kid,
        alg: r.alg,
        created_at: new Date(r.created_at).toISOString(),
        signs_from: new Date(r.created_at + publishDelayMs).toISOString(),
        retired_at: r.retired_at === null ? null : new Date(r.retired_at).toISOString()
      }))
    }
  }
}
