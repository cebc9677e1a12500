import { Type, type Static } from '@sinclair/typebox'
import { OutboxWorkerSettings } from './mail-options.js'

/** `whsec_` and the base64 of the key (Standard Webhooks); the key must be at least this many bytes. */
export const WEBHOOK_SECRET_MIN_BYTES = 24
export const WEBHOOK_SECRET_PATTERN = '^whsec_[A-Za-z0-9+/]+={0,2}$'

/**
 * The webhooks plugin's settings (WEBHOOK_URL, WEBHOOK_SECRET, WEBHOOK_EVENTS in src/config.ts):
 * where every event is POSTed, the `whsec_…` signing secret, the types delivered (all when
 * omitted or empty), and the outbox worker's timing (the mail outbox's settings and defaults).
 */
export const WebhookSettings = Type.Object({
  url: Type.String({ pattern: '^https?://[^\\s]+$', description: 'the receiver: an http(s) URL' }),
  secret: Type.String({ pattern: WEBHOOK_SECRET_PATTERN, description: `whsec_ and the base64 of at least ${WEBHOOK_SECRET_MIN_BYTES} random bytes (Standard Webhooks)` }),
  events: Type.Array(Type.String({ minLength: 1 }), { default: [], description: 'event types delivered; empty: every type' }),
  worker: OutboxWorkerSettings
})
export type WebhookSettings = Static<typeof WebhookSettings>

/** The settings as given: each may be omitted but url and secret (defaults apply), the worker's too. */
export type WebhookOptions = Pick<WebhookSettings, 'url' | 'secret'> & { events?: string[], worker?: Partial<OutboxWorkerSettings> }

/** Why a `whsec_` secret is unusable (not base64, too short), or undefined. */
export function webhookSecretProblem (secret: string): string | undefined {
  if (!new RegExp(WEBHOOK_SECRET_PATTERN).test(secret)) return 'expected whsec_ followed by base64'
  const bytes = Buffer.from(secret.slice('whsec_'.length), 'base64').length
  if (bytes < WEBHOOK_SECRET_MIN_BYTES) return `the key is ${bytes} bytes: at least ${WEBHOOK_SECRET_MIN_BYTES} random bytes (openssl rand -base64 32)`
  return undefined
}
