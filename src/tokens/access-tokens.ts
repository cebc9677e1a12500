import { createDecoder, createSigner, createVerifier } from 'fast-jwt'
import type { AccessTokenClaims } from '../schemas/token.js'
import type { KeyRing } from './keys.js'

/** The claims the server chooses per token; `iss`, `aud`, `iat` and `exp` are added when signing. */
export type AccessTokenContent = Omit<AccessTokenClaims, 'iss' | 'aud' | 'exp' | 'iat'>

/** Every claim of RFC 9068 §2.2 that this server issues; a token without one is refused. */
const REQUIRED_CLAIMS = ['iss', 'aud', 'sub', 'exp', 'iat', 'jti', 'scope', 'sid', 'client_id']
const TYP = 'at+jwt'

/**
 * How access tokens (RFC 9068 JWTs) are signed and verified, over one key ring:
 * - `verifyOptions` pin the algorithm, `typ`, `iss` and `aud` as exact strings (RFC 8725; strings,
 *   never RegExp: SECURITY.md) and require every claim; @fastify/jwt verifies with them, and
 *   `keyFor` gives it the key of a token's `kid`;
 * - `sign` uses one fast-jwt signer per signing key, made when the key changes (rotation):
 *   @fastify/jwt's sign() with a per-call key builds a signer per token, which costs more than signing.
 */
export function createAccessTokens (keys: KeyRing, settings: { issuer: string, audience: string, ttlSeconds: number }) {
  let signer: { kid: string | undefined, sign: (claims: AccessTokenContent) => string } | undefined
  const verifyOptions = {
    algorithms: [keys.algorithm],
    allowedIss: settings.issuer,
    allowedAud: settings.audience,
    checkTyp: TYP,
    requiredClaims: REQUIRED_CLAIMS
  }
  // One verifier per key, made once (a key is a secret or a public PEM; keys are few).
  const verifiers = new Map<string, (token: string) => unknown>()
  const decodeComplete = createDecoder({ complete: true })
  const verifierFor = (key: string) => {
    let verify = verifiers.get(key)
    if (verify === undefined) {
      verify = createVerifier({ ...verifyOptions, key })
      verifiers.set(key, verify)
    }
    return verify
  }

  return {
    algorithm: keys.algorithm,
    verifyOptions,

    /**
     * The key that verifies a token whose header carries this `kid` (none for HS256).
     * @throws Error for a kid the ring does not know (the token is then invalid)
     */
    async keyFor (kid: unknown): Promise<string> {
      const key = await keys.verificationKey(kid)
      if (key === undefined) throw new Error('unknown key id')
      return key
    },

    /**
     * Verifies an access token: signature with the key of its `kid`, the pinned algorithm, `typ`,
     * `iss`, `aud`, `exp`/`nbf` and every required claim. Resolves the claims.
     * @throws Error (fast-jwt's TokenError or an unknown kid) for any token that must be refused
     */
    async verify (token: string): Promise<unknown> {
      return await this.verifyNow(token)
    },

    /**
     * `verify` without a promise when it can: the claims at once when the key of the token's kid
     * is in memory (HS256: always), else a promise (a key another instance may just have made is
     * looked up). The per-request path (plugins/auth) takes the synchronous answer.
     * @throws Error synchronously, as `verify` rejects, for a token that must be refused
     */
    verifyNow (token: string): unknown {
      // HS256 has one key; EdDSA keys are named by the header's kid.
      const kid = keys.algorithm === 'HS256' ? undefined : (decodeComplete(token) as { header: { kid?: unknown } }).header.kid
      const key = keys.loadedKey(kid)
      return key === undefined ? this.keyFor(kid).then(verifierFor).then(verify => verify(token)) : verifierFor(key)(token)
    },

    /** Signs the claims with the current signing key, `expires_in` from now: a compact JWS. */
    sign (claims: AccessTokenContent): string {
      const { key, kid } = keys.signingKey()
      if (signer === undefined || signer.kid !== kid) {
        signer = {
          kid,
          sign: createSigner({
            key,
            algorithm: keys.algorithm,
            iss: settings.issuer,
            aud: settings.audience,
            expiresIn: settings.ttlSeconds * 1000,
            header: { alg: keys.algorithm, typ: TYP },
            ...kid === undefined ? {} : { kid }
          })
        }
      }
      return signer.sign(claims)
    }
  }
}
export type AccessTokens = ReturnType<typeof createAccessTokens>
