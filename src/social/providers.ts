import * as oauth from 'oauth4webapi'
import { SocialLoginError } from '../errors.js'
import type { OidcProviderConfig } from '../schemas/oidc-provider.js'
import { isPlainHttp } from './provider-config.js'

/** What a provider says about the user who signed in there. */
export interface UpstreamIdentity {
  /** the provider's stable id of the user: OIDC `sub`, GitHub's numeric id */
  subject: string
  email: string | null
  /** true only when the provider says so: OIDC `email_verified === true`, GitHub `verified: true` */
  email_verified: boolean
  /** a name to derive a username from (preferred_username, GitHub's login) */
  login: string | null
  full_name: string | null
}

/** What the callback hands back to its provider: the answer's parameters and what was kept with the state. */
export interface CallbackInput {
  parameters: URLSearchParams
  state: string
  nonce: string
  verifier: string
  redirectUri: string
}

/** One upstream provider of social login. */
export interface UpstreamProvider {
  id: string
  name: string
  /**
   * The URL to send the browser to (RFC 6749 §4.1.1 with PKCE S256 and, for OIDC, `nonce`).
   * @throws SocialLoginError (502) when discovery fails
   */
  authorizationUrl (input: { redirectUri: string, state: string, nonce: string, challenge: string }): Promise<URL>
  /**
   * Validates the callback's parameters (state, `error`, RFC 9207 `iss`), exchanges the code with
   * the PKCE verifier and validates the result: for OIDC the ID token (signature with the
   * provider's JWKS, `iss`, `aud`, `exp`, `nonce`), for GitHub the user from its API.
   * @throws SocialLoginError (400 for an answer that does not validate, 502 when the provider fails)
   */
  identify (input: CallbackInput): Promise<UpstreamIdentity>
}

/** How long one request to a provider may take (discovery, token, JWKS, user info). */
const PROVIDER_TIMEOUT_MS = 10_000
const GITHUB = { authorization_endpoint: 'https://github.com/login/oauth/authorize', token_endpoint: 'https://github.com/login/oauth/access_token', api_base: 'https://api.github.com' }

/** An oauth4webapi failure as the page's words: a refusal of the answer (400) or a provider that failed (502). */
function refusal (providerName: string, error: unknown): SocialLoginError {
  if (error instanceof SocialLoginError) return error
  if (error instanceof oauth.AuthorizationResponseError) {
    return new SocialLoginError(error.error === 'access_denied' ? `You cancelled the login at ${providerName}.` : `${providerName} refused the login (${error.error}).`)
  }
  const code = (error as { code?: unknown }).code
  if (typeof code === 'string' && code.startsWith('OAUTH_') && code !== oauth.RESPONSE_IS_NOT_JSON) {
    return new SocialLoginError(`${providerName}'s answer could not be validated (${code}). Go back to the application and start again.`)
  }
  return new SocialLoginError(`${providerName} cannot be reached now. Try again later.`, 502)
}

/** The options of every oauth4webapi request to this provider: a timeout, and plain http allowed for loopback URLs (tests). */
const requestOptions = (url: string) => ({ signal: AbortSignal.timeout(PROVIDER_TIMEOUT_MS), [oauth.allowInsecureRequests]: isPlainHttp(url) })

/**
 * A generic OpenID Connect provider (OIDC Core 1.0 §3.1, the authorization code flow), through
 * oauth4webapi: discovered lazily (OIDC Discovery 1.0; the document's `issuer` must equal the
 * configured one), cached on this object, a failure retried at the next login; the client
 * authenticates with client_secret_basic unless the provider supports only client_secret_post.
 */
function oidcProvider (config: OidcProviderConfig): UpstreamProvider {
  const issuer = config.issuer!
  const name = config.name!
  const client: oauth.Client = { client_id: config.client_id }
  let discovery: Promise<oauth.AuthorizationServer> | undefined
  // The provider's keys (JWKS), cached by oauth4webapi between logins.
  const jwks: oauth.JWKSCacheInput = {}

  function server (): Promise<oauth.AuthorizationServer> {
    discovery ??= (async () => {
      const url = new URL(issuer)
      const response = await oauth.discoveryRequest(url, { algorithm: 'oidc', ...requestOptions(issuer) })
      return await oauth.processDiscoveryResponse(url, response)
    })()
    // A failure is not kept: the next login discovers again.
    discovery.catch(() => { discovery = undefined })
    return discovery.catch((error: unknown) => { throw new SocialLoginError(`${name} cannot be reached now (its discovery document failed: ${(error as { code?: string }).code ?? 'network'}). Try again later.`, 502) })
  }

  const clientAuth = (as: oauth.AuthorizationServer) => {
    const methods = as.token_endpoint_auth_methods_supported
    return methods !== undefined && !methods.includes('client_secret_basic') && methods.includes('client_secret_post')
      ? oauth.ClientSecretPost(config.client_secret)
      : oauth.ClientSecretBasic(config.client_secret)
  }

  return {
    id: config.id,
    name,
    async authorizationUrl ({ redirectUri, state, nonce, challenge }) {
      const as = await server()
      if (as.authorization_endpoint === undefined) throw new SocialLoginError(`${name} has no authorization endpoint in its discovery document.`, 502)
      const url = new URL(as.authorization_endpoint)
      const query = { response_type: 'code', client_id: config.client_id, redirect_uri: redirectUri, scope: 'openid email profile', state, nonce, code_challenge: challenge, code_challenge_method: 'S256' }
      url.search = new URLSearchParams(query).toString()
      return url
    },
    async identify ({ parameters, state, nonce, verifier, redirectUri }) {
      const as = await server()
      try {
        const callback = oauth.validateAuthResponse(as, client, parameters, state)
        const response = await oauth.authorizationCodeGrantRequest(as, client, clientAuth(as), callback, redirectUri, verifier, requestOptions(issuer))
        const result = await oauth.processAuthorizationCodeResponse(as, client, response, { expectedNonce: nonce, requireIdToken: true })
        // OIDC Core §3.1.3.7: the signature too, with the provider's keys (oauth4webapi checked iss, aud, exp, iat, nonce).
        await oauth.validateApplicationLevelSignature(as, response, { ...requestOptions(issuer), [oauth.jwksCache]: jwks })
        const claims = oauth.getValidatedIdTokenClaims(result)!
        let info: Record<string, unknown> = claims
        // Providers that keep the profile claims out of the ID token (OIDC Core §5.4) give them at userinfo.
        if (claims.email === undefined && as.userinfo_endpoint !== undefined) {
          const answer = await oauth.userInfoRequest(as, client, result.access_token, requestOptions(issuer))
          info = { ...await oauth.processUserInfoResponse(as, client, claims.sub, answer), sub: claims.sub }
        }
        const text = (value: unknown) => typeof value === 'string' && value !== '' ? value : null
        return {
          subject: claims.sub,
          email: text(info.email),
          // Exactly the boolean true: a string "true", a missing claim or anything else is unverified.
          email_verified: text(info.email) !== null && info.email_verified === true,
          login: text(info.preferred_username) ?? text(info.nickname),
          full_name: text(info.name)
        }
      } catch (error) {
        throw refusal(name, error)
      }
    }
  }
}

/**
 * The GitHub preset: OAuth 2.0 with PKCE (GitHub supports S256) through oauth4webapi, then the
 * user from its REST API: `GET /user` (the stable numeric `id`, the `login`) and `GET
 * /user/emails`, whose `verified` flag is the only one trusted (the profile's `email` says nothing
 * about verification). The primary verified address is taken, else any verified one, else the
 * primary one as unverified.
 */
function githubProvider (config: OidcProviderConfig): UpstreamProvider {
  const endpoints = { ...GITHUB, ...Object.fromEntries(Object.entries({ authorization_endpoint: config.authorization_endpoint, token_endpoint: config.token_endpoint, api_base: config.api_base }).filter(([, v]) => v !== undefined)) }
  const name = config.name ?? 'GitHub'
  const as: oauth.AuthorizationServer = { issuer: 'https://github.com', authorization_endpoint: endpoints.authorization_endpoint, token_endpoint: endpoints.token_endpoint }
  const client: oauth.Client = { client_id: config.client_id }
  const api = endpoints.api_base.replace(/\/+$/, '')

  async function get (accessToken: string, path: string): Promise<unknown> {
    const headers = new Headers({ accept: 'application/vnd.github+json', 'user-agent': 'fastify-oauth2-jwt', 'x-github-api-version': '2022-11-28' })
    const response = await oauth.protectedResourceRequest(accessToken, 'GET', new URL(`${api}${path}`), headers, null, requestOptions(api))
    if (!response.ok) throw new SocialLoginError(`${name} refused to tell who you are (HTTP ${response.status}).`, 502)
    return await response.json()
  }

  return {
    id: config.id,
    name,
    async authorizationUrl ({ redirectUri, state, challenge }) {
      const url = new URL(endpoints.authorization_endpoint)
      const query = { response_type: 'code', client_id: config.client_id, redirect_uri: redirectUri, scope: 'read:user user:email', state, code_challenge: challenge, code_challenge_method: 'S256', allow_signup: 'true' }
      url.search = new URLSearchParams(query).toString()
      return url
    },
    async identify ({ parameters, state, verifier, redirectUri }) {
      try {
        const callback = oauth.validateAuthResponse(as, client, parameters, state)
        const response = await oauth.authorizationCodeGrantRequest(as, client, oauth.ClientSecretPost(config.client_secret), callback, redirectUri, verifier, requestOptions(endpoints.token_endpoint))
        const result = await oauth.processAuthorizationCodeResponse(as, client, response)
        const user = await get(result.access_token, '/user') as { id?: unknown, login?: unknown, name?: unknown }
        if (typeof user.id !== 'number' && typeof user.id !== 'string') throw new SocialLoginError(`${name} did not say who you are.`, 502)
        const emails = await get(result.access_token, '/user/emails')
        const list = Array.isArray(emails) ? emails as Array<{ email?: unknown, primary?: unknown, verified?: unknown }> : []
        const valid = list.filter(e => typeof e.email === 'string' && e.email !== '')
        const chosen = valid.find(e => e.primary === true && e.verified === true) ?? valid.find(e => e.verified === true) ?? valid.find(e => e.primary === true)
        return {
          subject: String(user.id),
          email: chosen === undefined ? null : chosen.email as string,
          email_verified: chosen?.verified === true,
          login: typeof user.login === 'string' ? user.login : null,
          full_name: typeof user.name === 'string' && user.name !== '' ? user.name : null
        }
      } catch (error) {
        throw refusal(name, error)
      }
    }
  }
}

/**
 * The providers of one auth core (OIDC_PROVIDERS_FILE, checked already by providerConfigProblems):
 * nothing is fetched at start; each OIDC provider discovers itself at its first login and keeps
 * the result on itself (no global state).
 */
export function createProviderRegistry (configs: readonly OidcProviderConfig[]) {
  const providers = new Map(configs.map(config => [config.id, config.id === 'github' ? githubProvider(config) : oidcProvider(config)]))
  return {
    /** The providers, in the file's order: the login page's buttons. */
    list: (): Array<{ id: string, name: string }> => [...providers.values()].map(({ id, name }) => ({ id, name })),
    /** The provider of this id, or undefined. */
    get: (id: string): UpstreamProvider | undefined => providers.get(id)
  }
}
export type ProviderRegistry = ReturnType<typeof createProviderRegistry>
