import { createServer, type IncomingHttpHeaders } from 'node:http'
import { randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import type { TestContext } from 'node:test'
import type { FastifyInstance } from 'fastify'
import { Webhook } from 'standardwebhooks'
import { createApp } from '../../src/app.js'
import { eventually, isolatedDatabaseUrl, testConfig } from '../helper.js'

/** A fresh Standard Webhooks secret: whsec_ and 32 random bytes. */
export const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`

/** One request as the receiver met it: verified with `standardwebhooks` as a receiver would. */
export interface Received {
  id: string
  timestamp: string
  signature: string
  body: string
  headers: IncomingHttpHeaders
  /** the payload standardwebhooks returned, or undefined when it refused the request */
  payload: { type: string, timestamp: string, data: Record<string, unknown> } | undefined
  error: string | undefined
  /** when it arrived (epoch ms) */
  at: number
}

/** How the receiver answers its `n`th request (0-based): a status, headers, and a delay before answering. */
export type Behaviour = (n: number, request: Received) => { status: number, headers?: Record<string, string>, delayMs?: number }

/**
 * A webhook receiver on 127.0.0.1 (a real HTTP server), verifying each request's signature with
 * the `standardwebhooks` library, as an integrator would. Closed when the test ends.
 */
export async function startReceiver (t: TestContext, secret: string, behave: Behaviour = () => ({ status: 204 }), port = 0) {
  const verifier = new Webhook(secret)
  const received: Received[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      const headers = req.headers
      let payload: Received['payload']
      let error: string | undefined
      try {
        payload = verifier.verify(body, headers as Record<string, string>) as Received['payload']
      } catch (err) {
        error = (err as Error).message
      }
      const request: Received = { id: String(headers['webhook-id']), timestamp: String(headers['webhook-timestamp']), signature: String(headers['webhook-signature']), body, headers, payload, error, at: Date.now() }
      const answer = behave(received.length, request)
      received.push(request)
      const reply = () => { if (!res.destroyed) res.writeHead(answer.status, answer.headers).end() }
      if (answer.delayMs === undefined) reply()
      else setTimeout(reply, answer.delayMs)
    })
  })
  await new Promise<void>(resolve => server.listen(port, '127.0.0.1', resolve))
  const closed = () => new Promise<void>(resolve => { server.closeAllConnections(); server.close(() => resolve()) })
  t.after(closed)
  const address = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${address.port}/hooks`,
    port: address.port,
    received,
    close: closed,
    /** The accepted (2xx-answered) requests' ids, in order. */
    verifier
  }
}

/** A port nothing listens on (yet): taken from the system, then released. */
export async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>(resolve => server.close(() => resolve()))
  return port
}

/** Fast worker timings for tests: polls every 20 ms, retries from 50 ms, a send bounded by 300 ms. */
export const FAST_WORKER = { intervalMs: 20, batchSize: 10, backoffBaseMs: 50, backoffMaxMs: 400, sendTimeoutMs: 300, leaseMs: 2000, closeTimeoutMs: 100 }

/**
 * The whole app with webhooks to `url`, its worker polling (as after listen), closed when the test
 * ends. `databaseUrl`: a database to share or reuse (default: a fresh one).
 */
export async function webhookApp (t: TestContext, options: { url: string, secret: string, databaseUrl?: string, env?: Record<string, string>, worker?: Record<string, number>, start?: boolean }): Promise<FastifyInstance> {
  const config = testConfig({ DATABASE_URL: options.databaseUrl ?? await isolatedDatabaseUrl(), WEBHOOK_URL: options.url, WEBHOOK_SECRET: options.secret, TOKEN_RATE_LIMIT: '0', ...options.env })
  const app = await createApp({ ...config, webhooks: { ...config.webhooks!, worker: { ...FAST_WORKER, ...options.worker } } })
  t.after(() => app.close())
  if (options.start !== false) app.webhookOutbox.start()
  return app
}

/** The deliveries stored, once every one is sent (or `attempts` polls passed): for the counts. */
export const allSent = (app: FastifyInstance, attempts = 500) => eventually(
  () => app.db.selectFrom('webhook_deliveries').selectAll().execute(),
  rows => rows.length > 0 && rows.every(row => row.sent_at !== null),
  attempts
)
