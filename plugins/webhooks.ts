import fp from 'fastify-plugin'
import type { FastifyPluginAsync } from 'fastify'
import { createOutboxWorker } from '../src/mail/outbox-worker.js'
import { parseOrThrow } from '../src/schemas/parse.js'
import { WebhookSettings, webhookSecretProblem, type WebhookOptions } from '../src/schemas/webhook-options.js'
import type { WebhookDeliveryStore } from '../src/stores/auth-store.js'
import { createWebhookSender } from '../src/webhooks/sender.js'

/** The plugin's options: WebhookSettings (url and secret required), and `send` instead of HTTP (tests). */
export type WebhooksPluginOptions = WebhookOptions & {
  send?: ReturnType<typeof createWebhookSender>
}

/** @throws Error naming every invalid option */
function checkOptions (options: WebhooksPluginOptions) {
  const { send, ...given } = options
  const fail = (problems: string[]) => new Error(`webhooks plugin: invalid options: ${problems.join('; ')}`)
  const settings = parseOrThrow(WebhookSettings, JSON.parse(JSON.stringify(given)), fail)
  const problem = webhookSecretProblem(settings.secret)
  if (problem !== undefined) throw fail([`secret: ${problem}`])
  return { settings, send }
}

/**
 * Webhooks (issue 22; CONTRACT.md "Events, hooks and the audit log"): every event of the
 * selected types is queued in its transaction (the auth core's audit log writes the delivery
 * row) and POSTed by an outbox worker — the mail outbox's worker and claim machinery — in every
 * instance, signed per Standard Webhooks. At least once: retried with backoff (honouring
 * `Retry-After`) while the receiver fails; a restart loses none. Decorates `webhookOutbox` (the
 * worker: polling from listen to close). Needs the auth plugin with a store that has `webhooks`.
 */
const webhooksPlugin: FastifyPluginAsync<WebhooksPluginOptions> = async (fastify, options) => {
  const { settings, send: given } = checkOptions(options)
  const outbox: WebhookDeliveryStore | undefined = fastify.authCore.store.webhooks
  if (outbox === undefined || fastify.authCore.store.audit === undefined) throw new Error('webhooks plugin: the auth store has no audit log and webhook outbox (store.audit, store.webhooks)')
  try {
    fastify.authCore.audit.deliverWebhooks(settings.events)
  } catch (error) {
    throw new Error(`webhooks plugin: invalid options: events: ${(error as Error).message}`)
  }
  const send = given ?? createWebhookSender({ url: settings.url, secret: settings.secret })
  const worker = createOutboxWorker({
    outbox,
    what: 'webhook',
    // A receiver may fail for a while (deployments, outages): every failure is retried until maxAttempts.
    isPermanent: () => false,
    settings: settings.worker,
    log: fastify.log,
    send: (delivery, signal) => send(delivery, signal)
  })
  fastify.log.info({ url: new URL(settings.url).origin, events: settings.events.length === 0 ? 'all' : settings.events }, 'webhooks: events are delivered')
  fastify.decorate('webhookOutbox', worker)
  // Background work starts when the server listens: not in the CLI or a test app that never does.
  fastify.addHook('onListen', async () => { worker.start() })
  fastify.addHook('onClose', async () => { await worker.stop() })
}

export default fp(webhooksPlugin, { fastify: '5.x', name: 'webhooks', dependencies: ['auth'] })

declare module 'fastify' {
  interface FastifyInstance {
    webhookOutbox: ReturnType<typeof createOutboxWorker<WebhookDeliveryStore>>
  }
}
