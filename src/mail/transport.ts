import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { createTransport } from 'nodemailer'

/*
 * Where the outbox worker hands messages: an SMTP server through nodemailer
 * (https://nodemailer.com/smtp/), or, without one, .eml files in a directory that the command
 * line lists (`mail list|show`), so the flows work with no set-up.
 */

/** A message as the worker sends it. `id` makes the Message-ID, so a resent message keeps it. */
export interface OutgoingMessage {
  id: string
  from: string
  to: string
  subject: string
  text: string
  html: string | null
  date: Date
}

export interface MailTransport {
  /** for the start-up log: the SMTP server without credentials, or the directory */
  readonly description: string
  /** false when messages are only written to files */
  readonly delivers: boolean
  /** Sends one message; rejects on failure. `signal` aborts it (a timeout, the app closing). */
  send (message: OutgoingMessage, signal: AbortSignal): Promise<void>
  close (): void
}

const domainOf = (from: string) => /@([^>\s]+)>?\s*$/.exec(from)?.[1] ?? 'localhost'

function mailOptions (message: OutgoingMessage, signal: AbortSignal) {
  return {
    from: message.from,
    to: message.to,
    subject: message.subject,
    text: message.text,
    html: message.html ?? undefined,
    date: message.date,
    messageId: `<${message.id}@${domainOf(message.from)}>`,
    signal
  }
}

/** The SMTP server of `url` (smtp://user:pass@host:port, smtps://… for TLS from the start). */
export function smtpTransport (url: string, timeoutMs: number): MailTransport {
  // Timeouts below the worker's send timeout, so a silent server fails the attempt, not the worker.
  const transporter = createTransport({
    url,
    connectionTimeout: Math.min(10_000, timeoutMs),
    greetingTimeout: Math.min(10_000, timeoutMs),
    socketTimeout: timeoutMs
  })
  const parsed = new URL(url)
  return {
    description: `${parsed.protocol}//${parsed.host}`,
    delivers: true,
    async send (message, signal) {
      await transporter.sendMail(mailOptions(message, signal))
    },
    close: () => transporter.close()
  }
}

/** File names sort by time: `<created, UTC>-<message id>.eml`. */
const fileName = (message: OutgoingMessage) =>
  `${message.date.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${message.id}.eml`

/** Writes each message, as the raw RFC 5322 text an SMTP server would get, to `dir`. */
export function fileTransport (dir: string): MailTransport {
  const directory = resolve(dir)
  const composer = createTransport({ streamTransport: true, buffer: true, newline: 'unix' })
  return {
    description: directory,
    delivers: false,
    async send (message, signal) {
      const info = await composer.sendMail(mailOptions(message, signal))
      await mkdir(directory, { recursive: true })
      const path = join(directory, fileName(message))
      // Written whole, then renamed: a reader never sees half a message, and a retry overwrites.
      await writeFile(`${path}.tmp`, info.message as Buffer, { mode: 0o600 })
      await rename(`${path}.tmp`, path)
    },
    close: () => composer.close()
  }
}

export interface EmlSummary {
  id: string
  file: string
  date: string
  to: string
  subject: string
}

/** The header of a raw message: unfolded, names lower-cased. */
function headersOf (raw: string): Record<string, string> {
  const head = raw.split(/\r?\n\r?\n/, 1)[0] ?? ''
  const headers: Record<string, string> = {}
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':')
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] ??= line.slice(colon + 1).trim()
  }
  return headers
}

/** The .eml files of `dir`, oldest first (none when it does not exist). */
export async function listEmlFiles (dir: string): Promise<EmlSummary[]> {
  let names: string[]
  try {
    names = (await readdir(resolve(dir))).filter(name => name.endsWith('.eml')).sort()
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return []
    throw error
  }
  return Promise.all(names.map(async file => {
    const headers = headersOf(await readFile(join(resolve(dir), file), 'utf8'))
    return { id: file.replace(/^[0-9TZ]+-/, '').replace(/\.eml$/, ''), file, date: headers.date ?? '', to: headers.to ?? '', subject: headers.subject ?? '' }
  }))
}

/** The raw text of the message whose id (or file name) is `id`; undefined when there is none. */
export async function readEmlFile (dir: string, id: string): Promise<string | undefined> {
  const found = (await listEmlFiles(dir)).find(message => message.id === id || message.file === id)
  return found === undefined ? undefined : readFile(join(resolve(dir), found.file), 'utf8')
}
