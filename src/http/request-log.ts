import type { FastifyRequest } from 'fastify'

/**
 * Query parameters that carry a credential in some URL this server answers: the e-mail links'
 * `token` (GET /reset-password, /verify), a provider's `code` and `state` (GET
 * /login/{id}/callback), and any token a client puts in a query by mistake.
 */
const CREDENTIAL_PARAMETERS = new Set(['token', 'code', 'state', 'access_token', 'refresh_token', 'id_token', 'mfa_token', 'code_verifier', 'client_secret'])

/**
 * `url` with the values of credential parameters replaced by `[redacted]` (ASVS 16.2.5: no
 * credentials in logs); the path and the other parameters as sent. Never throws.
 */
export function redactedUrl (url: string): string {
  const at = url.indexOf('?')
  if (at === -1) return url
  const pairs = url.slice(at + 1).split('&').map(pair => {
    const eq = pair.indexOf('=')
    const rawName = eq === -1 ? pair : pair.slice(0, eq)
    let name = rawName
    try { name = decodeURIComponent(rawName.replace(/\+/g, ' ')) } catch {}
    return eq !== -1 && CREDENTIAL_PARAMETERS.has(name) ? `${rawName}=[redacted]` : pair
  })
  return `${url.slice(0, at)}?${pairs.join('&')}`
}

/**
 * The request as the log shows it: Fastify's default fields (method, url, host, remote address
 * and port), with credential parameters of the URL redacted.
 */
export function requestForLog (request: FastifyRequest) {
  const version = request.headers?.['accept-version']
  return {
    method: request.method,
    url: redactedUrl(request.url),
    version: Array.isArray(version) ? version.join(', ') : version,
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort
  }
}
