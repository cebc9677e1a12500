import type { OidcProviderConfig } from '../schemas/oidc-provider.js'
import { LOOPBACK_HOSTS } from '../services/oauth-clients.js'

/** Why `value` cannot be a provider's URL: https only (http for loopback hosts: tests), no userinfo, query or fragment. */
export function providerUrlProblem (value: string): string | undefined {
  if (!URL.canParse(value)) return 'not an absolute URL'
  const url = new URL(value)
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname))) return 'must be https (http only for 127.0.0.1, [::1], localhost)'
  if (url.username !== '' || url.password !== '') return 'has userinfo'
  if (value.includes('?') || value.includes('#')) return 'has a query or fragment'
  return undefined
}

/** Whether requests to this URL need oauth4webapi's allowInsecureRequests (plain http: loopback only, checked at start). */
export const isPlainHttp = (value: string) => value.startsWith('http:')

/**
 * Problems of provider entries (OIDC_PROVIDERS_FILE) beyond their schema, each naming its
 * provider by id and never by secret: ids listed twice, a generic provider without `issuer` or
 * `name`, GitHub's base URLs on another provider, an issuer on the GitHub preset, URLs that are
 * not https.
 */
export function providerConfigProblems (providers: readonly OidcProviderConfig[]): string[] {
  const problems: string[] = []
  const seen = new Set<string>()
  for (const provider of providers) {
    const name = `provider ${provider.id}`
    if (seen.has(provider.id)) problems.push(`${name}: listed twice`)
    seen.add(provider.id)
    if (provider.id === 'github') {
      if (provider.issuer !== undefined) problems.push(`${name}: the GitHub preset takes no issuer (it is OAuth 2.0, not OpenID Connect)`)
    } else {
      if (provider.issuer === undefined) problems.push(`${name}: issuer is required (discovered at <issuer>/.well-known/openid-configuration)`)
      if (provider.name === undefined) problems.push(`${name}: name is required (the button's label)`)
      for (const field of ['authorization_endpoint', 'token_endpoint', 'api_base'] as const) {
        if (provider[field] !== undefined) problems.push(`${name}: ${field} is for the github preset only (OpenID Connect providers are discovered)`)
      }
    }
    for (const field of ['issuer', 'authorization_endpoint', 'token_endpoint', 'api_base'] as const) {
      const value = provider[field]
      const problem = value === undefined ? undefined : providerUrlProblem(value)
      if (problem !== undefined) problems.push(`${name}: ${field} ${problem}`)
    }
  }
  return problems
}
