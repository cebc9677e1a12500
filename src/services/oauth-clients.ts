import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { verify as argon2Verify } from '@node-rs/argon2'
import { InvalidRequestError } from '../errors.js'
import type { OAuthClientConfig } from '../schemas/oauth-client.js'
import type { AuthorizationStore, OAuthClientRecord } from '../stores/auth-store.js'

/** A client of the authorization-code flow, wherever it was registered. */
export interface RegisteredClient {
  client_id: string
  /** authenticates with a secret (RFC 6749 §2.1); public clients rely on PKCE alone */
  confidential: boolean
  /** exact redirect URIs (RFC 9700 §4.1.3) */
  redirect_uris: string[]
  /** the scopes it may request; null: every scope */
  scopes: string[] | null
  /** skips the consent page */
  first_party: boolean
  /** where it was registered: the plugin's options (OAUTH_CLIENTS_FILE), built in (swagger-ui), or the store (`clients add`) */
  source: 'options' | 'built-in' | 'store'
}

/** Schemes a redirect URI may never have: they run code or read files in the browser. */
const FORBIDDEN_SCHEMES = new Set(['javascript:', 'data:', 'vbscript:', 'file:', 'blob:', 'about:'])
/** Hosts plain http may name (RFC 8252 §7.3): redirect URIs here, a provider's URLs in src/social. */
export const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(['127.0.0.1', '[::1]', 'localhost'])
/** Parameters the authorization response adds (RFC 6749 §4.1.2, §4.1.2.1, RFC 9207): a registered query holding one would shadow the real one. */
const ANSWER_PARAMETERS = new Set(['code', 'state', 'iss', 'error', 'error_description', 'error_uri'])

// eslint-disable-next-line no-control-regex -- control characters are what this refuses
const UNPRINTABLE = /[\s\u0000-\u001f\u007f]/
/** A URI as a one-line message shows it: quoted as JSON when it holds whitespace or control characters. */
const shown = (uri: string) => UNPRINTABLE.test(uri) ? JSON.stringify(uri) : uri

/**
 * Why a redirect URI cannot be registered, or undefined when it can: absolute, parseable, no
 * fragment (RFC 6749 §3.1.2), no userinfo, https (http for loopback hosts only, RFC 8252 §7.3),
 * or a native app's reversed-domain scheme (RFC 8252 §7.1); never javascript:, data: or file:;
 * no response parameter (code, state, iss, error…) in its query. It must also be in the
 * WHATWG URL parser's normal form: /authorize compares the string exactly but redirects to its
 * parsed form, so a URI the parser rewrites (a newline dropped, `127.1` read as `127.0.0.1`, a
 * host's case) would send codes to an address that was never registered.
 */
export function redirectUriProblem (uri: string): string | undefined {
  if (UNPRINTABLE.test(uri)) return 'has whitespace or a control character'
  if (!URL.canParse(uri)) return 'not an absolute URI'
  const url = new URL(uri)
  if (uri.includes('#')) return 'has a fragment'
  if (FORBIDDEN_SCHEMES.has(url.protocol)) return `scheme ${url.protocol} is not allowed`
  if (url.username !== '' || url.password !== '') return 'has userinfo'
  if (url.protocol === 'http:' && !LOOPBACK_HOSTS.has(url.hostname)) return 'http is for loopback hosts only (127.0.0.1, [::1], localhost); use https'
  // RFC 8252 §7.1: a native app's scheme is a reversed domain name it controls (com.example.app:);
  // that also keeps out network schemes (ws:, ftp:) and the browser's own (intent:, view-source:).
  if (url.protocol !== 'http:' && url.protocol !== 'https:' && !url.protocol.includes('.')) return `scheme ${url.protocol} is neither https nor a native app's reversed domain name (com.example.app:)`
  const answerParameter = [...url.searchParams.keys()].find(name => ANSWER_PARAMETERS.has(name))
  if (answerParameter !== undefined) return `has ${answerParameter} in its query, a parameter the answer adds`
  if (url.href !== uri) return `is not in its normal form: the URL parser reads it as ${url.href}; register that`
  return undefined
}

/** Problems of client entries (OAUTH_CLIENTS_FILE or the plugin's `oauthClients`) beyond their schema, each naming its client. */
export function clientConfigProblems (clients: readonly OAuthClientConfig[]): string[] {
  const problems: string[] = []
  const seen = new Set<string>()
  for (const client of clients) {
    const name = `client ${client.client_id}`
    if (seen.has(client.client_id)) problems.push(`${name}: listed twice`)
    seen.add(client.client_id)
    if ((client.client_secret_hash === undefined) === (client.public !== true)) {
      problems.push(`${name}: give either client_secret_hash (confidential) or "public": true`)
    }
    for (const uri of client.redirect_uris) {
      const problem = redirectUriProblem(uri)
      if (problem !== undefined) problems.push(`${name}: redirect_uri ${shown(uri)}: ${problem}`)
    }
  }
  return problems
}

/** A new client secret: 256 bits from the CSPRNG, base64url (shown once by `clients add`). */
export const newClientSecret = (): string => randomBytes(32).toString('base64url')
/** What is stored of a secret made by newClientSecret: its SHA-256 (a random 256-bit secret needs no slow hash). */
export const hashClientSecret = (secret: string): string => `sha256:${createHash('sha256').update(secret).digest('hex')}`

/** Whether `secret` matches `stored` (`sha256:` compared in constant time, or argon2id). */
async function secretMatches (stored: string, secret: string): Promise<boolean> {
  if (stored.startsWith('sha256:')) {
    const expected = Buffer.from(stored.slice(7), 'hex')
    const actual = createHash('sha256').update(secret).digest()
    return expected.length === actual.length && timingSafeEqual(expected, actual)
  }
  return await argon2Verify(stored, secret).catch(() => false)
}

const fromConfig = (client: OAuthClientConfig, source: 'options' | 'built-in'): RegisteredClient & { secret_hash: string | null } => ({
  client_id: client.client_id,
  confidential: client.client_secret_hash !== undefined,
  secret_hash: client.client_secret_hash ?? null,
  redirect_uris: [...client.redirect_uris],
  scopes: client.scopes === undefined ? null : [...client.scopes],
  first_party: client.first_party === true,
  source
})

const fromRecord = (record: OAuthClientRecord): RegisteredClient & { secret_hash: string | null } => ({
  client_id: record.client_id,
  confidential: record.secret_hash !== null,
  secret_hash: record.secret_hash,
  redirect_uris: record.redirect_uris,
  scopes: record.scopes,
  first_party: record.first_party,
  source: 'store'
})

/**
 * The registered clients of one auth core: those of its options (OAUTH_CLIENTS_FILE), built-in
 * ones (the swagger plugin adds `swagger-ui`), and those the store holds (`clients add`); the
 * options and built-ins win over the store for one id.
 * @throws Error naming every problem of `configured` (clientConfigProblems)
 */
export function createClientRegistry (configured: readonly OAuthClientConfig[], store: AuthorizationStore) {
  const problems = clientConfigProblems(configured)
  if (problems.length > 0) throw new Error(`invalid oauth clients: ${problems.join('; ')}`)
  const fixed = new Map(configured.map(client => [client.client_id, fromConfig(client, 'options')]))

  async function lookup (clientId: string) {
    const found = fixed.get(clientId)
    if (found !== undefined) return found
    const record = await store.findClient(clientId)
    return record && fromRecord(record)
  }

  return {
    /** The client, without its secret hash; undefined when unknown. */
    async find (clientId: string): Promise<RegisteredClient | undefined> {
      const found = await lookup(clientId)
      if (found === undefined) return undefined
      const { secret_hash: _secret, ...client } = found
      return client
    },

    /** Whether `secret` is this confidential client's secret; false for an unknown or public client. */
    async authenticate (clientId: string, secret: string): Promise<boolean> {
      const found = await lookup(clientId)
      return found?.secret_hash != null && await secretMatches(found.secret_hash, secret)
    },

    /**
     * A client this process knows without the store (the swagger plugin's `swagger-ui`). A client of
     * the options with the same id wins. @throws Error for an invalid entry
     */
    addBuiltIn (client: OAuthClientConfig): void {
      if (fixed.has(client.client_id)) return
      const entry = fromConfig(client, 'built-in')
      // Built-ins are the server's own pages: their URI (the issuer's origin) may be plain http.
      if ((client.client_secret_hash === undefined) !== (client.public === true)) throw new Error(`built-in client ${client.client_id}: public or a secret`)
      fixed.set(client.client_id, entry)
    },

    /**
     * Registers a client in the store (`clients add`): public, or confidential with a new secret,
     * resolved in clear this once (only its hash is stored).
     * @throws InvalidRequestError for a bad redirect URI, DuplicateClientError for a taken id
     */
    async create (input: { client_id: string, redirect_uris: string[], confidential: boolean, scopes?: string[], first_party?: boolean }): Promise<{ client: RegisteredClient, secret?: string }> {
      if (!/^[A-Za-z0-9._~:-]{1,200}$/.test(input.client_id)) throw new InvalidRequestError('client id: 1 to 200 of A-Z a-z 0-9 . _ ~ : -')
      if (input.redirect_uris.length === 0) throw new InvalidRequestError('at least one --redirect-uri')
      for (const uri of input.redirect_uris) {
        const problem = redirectUriProblem(uri)
        if (problem !== undefined) throw new InvalidRequestError(`redirect_uri ${shown(uri)}: ${problem}`)
      }
      if (fixed.has(input.client_id)) throw new InvalidRequestError(`client ${input.client_id} is registered by the configuration`)
      const secret = input.confidential ? newClientSecret() : undefined
      const record: OAuthClientRecord = {
        client_id: input.client_id,
        secret_hash: secret === undefined ? null : hashClientSecret(secret),
        redirect_uris: [...input.redirect_uris],
        scopes: input.scopes ?? null,
        first_party: input.first_party === true,
        created_at: Date.now()
      }
      await store.insertClient(record)
      const { secret_hash: _secret, ...client } = fromRecord(record)
      return secret === undefined ? { client } : { client, secret }
    },

    /** Every client (configured, built-in and stored), without secret hashes. */
    async list (): Promise<RegisteredClient[]> {
      const stored = (await store.listClients()).filter(record => !fixed.has(record.client_id)).map(fromRecord)
      return [...fixed.values(), ...stored].map(({ secret_hash: _secret, ...client }) => client)
    },

    /** Removes a client the store holds (`clients remove`); false when it has none by that id. */
    remove: (clientId: string) => store.deleteClient(clientId)
  }
}
export type ClientRegistry = ReturnType<typeof createClientRegistry>
