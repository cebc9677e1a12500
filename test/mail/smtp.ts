import assert from 'node:assert/strict'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import type { TestContext } from 'node:test'
import { SMTPServer } from 'smtp-server'
import { eventually } from '../helper.js'

/*
 * A real SMTP server for the tests (nodemailer's companion, https://nodemailer.com/extras/smtp-server),
 * on 127.0.0.1, that keeps what it receives. It can be stopped and started again on the same port.
 */

export interface ReceivedMail {
  /** the envelope */
  from: string
  to: string[]
  raw: string
  headers: Record<string, string>
  /** the decoded text/plain and text/html parts */
  text?: string
  html?: string
  /** the link of the text part: <PUBLIC_URL>/(reset-password|verify)?token=… */
  link?: string
  token?: string
}

/** Quoted-printable (RFC 2045 §6.7) to text. */
const fromQuotedPrintable = (body: string) => Buffer.from(
  body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))),
  'latin1'
).toString('utf8')

function parseHeaders (head: string): Record<string, string> {
  const headers: Record<string, string> = {}
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':')
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] ??= line.slice(colon + 1).trim()
  }
  return headers
}

/** The leaf parts of a MIME message, decoded: enough for nodemailer's text + html alternatives. */
function parts (raw: string): Array<{ type: string, body: string }> {
  const split = raw.search(/\r?\n\r?\n/)
  const headers = parseHeaders(raw.slice(0, split))
  const body = raw.slice(split).replace(/^\r?\n\r?\n/, '')
  const type = headers['content-type'] ?? 'text/plain'
  const boundary = /boundary="?([^";]+)"?/i.exec(type)?.[1]
  if (type.toLowerCase().startsWith('multipart/') && boundary !== undefined) {
    return body.split(`--${boundary}`).slice(1, -1).flatMap(part => parts(part.replace(/^\r?\n/, '')))
  }
  const encoding = (headers['content-transfer-encoding'] ?? '7bit').toLowerCase()
  const decoded = encoding === 'quoted-printable'
    ? fromQuotedPrintable(body)
    : encoding === 'base64' ? Buffer.from(body, 'base64').toString('utf8') : body
  return [{ type: type.split(';')[0]!.trim().toLowerCase(), body: decoded }]
}

export function parseMail (raw: string, envelope: { from: string, to: string[] } = { from: '', to: [] }): ReceivedMail {
  const headers = parseHeaders(raw.slice(0, raw.search(/\r?\n\r?\n/)))
  const leaves = parts(raw)
  const text = leaves.find(p => p.type === 'text/plain')?.body
  const html = leaves.find(p => p.type === 'text/html')?.body
  const link = /https?:\/\/\S+\/(?:reset-password|verify)\?token=[A-Za-z0-9_-]+/.exec(text ?? '')?.[0]
  return { ...envelope, raw, headers, text, html, link, token: link === undefined ? undefined : new URL(link).searchParams.get('token') ?? undefined }
}

export interface TestSmtp {
  url: string
  port: number
  received: ReceivedMail[]
  /** the messages sent to this address */
  to (address: string): ReceivedMail[]
  /** waits until `count` messages went to the address (or any address); fails after `timeoutMs` */
  waitFor (address: string | undefined, count?: number, timeoutMs?: number): Promise<ReceivedMail[]>
  stop (): Promise<void>
  start (): Promise<void>
}

/** Starts the server (on `port`, or a free one); stopped when the test ends. `delayMs` holds each message before accepting it. */
export async function startSmtp (t: TestContext, options: { port?: number, delayMs?: number } = {}): Promise<TestSmtp> {
  const received: ReceivedMail[] = []
  let server: SMTPServer | undefined
  let port = options.port ?? 0

  async function start () {
    server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onData (stream, session, callback) {
        const chunks: Buffer[] = []
        stream.on('data', (chunk: Buffer) => chunks.push(chunk))
        stream.on('end', () => {
          const accept = () => {
            const envelope = {
              from: session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address,
              to: session.envelope.rcptTo.map(r => r.address)
            }
            received.push(parseMail(Buffer.concat(chunks).toString('utf8'), envelope))
            callback()
          }
          if (options.delayMs === undefined) accept()
          else setTimeout(accept, options.delayMs)
        })
      }
    })
    const listener = server.listen(port, '127.0.0.1')
    await once(listener, 'listening')
    port = (listener.address() as AddressInfo).port
  }

  async function stop () {
    const current = server
    server = undefined
    if (current !== undefined) await new Promise<void>(resolve => current.close(() => resolve()))
  }

  await start()
  t.after(stop)
  const to = (address: string) => received.filter(m => m.to.some(a => a.toLowerCase() === address.toLowerCase()))
  return {
    get url () { return `smtp://127.0.0.1:${port}` },
    get port () { return port },
    received,
    to,
    async waitFor (address, count = 1, timeoutMs = 10_000) {
      const messages = await eventually(async () => address === undefined ? received : to(address), m => m.length >= count, timeoutMs / 20)
      assert.ok(messages.length >= count, `${count} message(s) to ${address ?? 'anyone'} within ${timeoutMs} ms; got ${messages.length}`)
      return messages
    },
    stop,
    start
  }
}
