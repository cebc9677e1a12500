import { Webhook } from 'standardwebhooks'
import type { WebhookDeliveryRecord } from '../stores/auth-store.js'

/** A receiver's answer other than 2xx: its status and, for 429 and 503, the wait it asked for. */
export class WebhookResponseError extends Error {
  override name = 'WebhookResponseError'
  readonly code = 'EWEBHOOKSTATUS'
  constructor (readonly status: number, readonly retryAfterMs: number | undefined) {
    super(`the receiver answered ${status}${retryAfterMs === undefined ? '' : ` (Retry-After: ${Math.ceil(retryAfterMs / 1000)} s)`}`)
  }
}

/**
 * An HTTP `Retry-After` (RFC 9110 §10.2.3: whole seconds, or an HTTP date) in milliseconds from
 * `now`; undefined when absent or unreadable.
 */
export function parseRetryAfter (value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined
  const text = value.trim()
  if (/^\d+$/.test(text)) return Number(text) * 1000
  const date = Date.parse(text)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

/**
 * The function the webhook worker sends each delivery with: a POST of the stored body to `url`
 * with the Standard Webhooks headers (`webhook-id`: the event's id, the same on every attempt;
 * `webhook-timestamp`: now, in seconds; `webhook-signature`: `v1,` and the base64 HMAC-SHA256 of
 * `id.timestamp.body` keyed with the secret), signed by the `standardwebhooks` library
 * (https://github.com/standard-webhooks/standard-webhooks). Redirects are not followed.
 * Resolves `{ status }` for a 2xx; rejects with WebhookResponseError for any other answer, or
 * fetch's error when there is none (refused, reset, aborted by `signal`).
 */
export function createWebhookSender (options: { url: string, secret: string, userAgent?: string }) {
  const signer = new Webhook(options.secret)
  return async (delivery: Pick<WebhookDeliveryRecord, 'id' | 'payload'>, signal: AbortSignal): Promise<{ status: number }> => {
    const timestamp = new Date()
    const response = await fetch(options.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': options.userAgent ?? 'fastify-oauth2-jwt-webhooks',
        'webhook-id': delivery.id,
        'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
        'webhook-signature': signer.sign(delivery.id, timestamp, delivery.payload)
      },
      body: delivery.payload,
      redirect: 'manual',
      signal
    })
    // The body is not read: a receiver's answer is its status.
    await response.body?.cancel().catch(() => {})
    if (response.status >= 200 && response.status < 300) return { status: response.status }
    throw new WebhookResponseError(response.status, parseRetryAfter(response.headers.get('retry-after')))
  }
}
