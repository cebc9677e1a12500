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

/*
 * Reading a written message back for people (`mail show`): the headers that matter, then the
 * text part decoded from its transfer encoding, so a link copied from it works. Enough MIME for
 * what this project writes (nodemailer: multipart/alternative, quoted-printable or base64, UTF-8);
 * a part it cannot read is said to be missing rather than guessed.
 */

/** Quoted-printable (RFC 2045 §6.7) to bytes: soft line breaks removed, `=XX` octets restored. */
export function decodeQuotedPrintable (body: string): Buffer {
  const text = body.replace(/[ \t]+(?=\r?\n)/g, '').replace(/=\r?\n/g, '')
  const bytes: number[] = []
  for (let i = 0; i < text.length; i++) {
    const hex = text[i] === '=' ? /^[0-9A-Fa-f]{2}$/.exec(text.slice(i + 1, i + 3))?.[0] : undefined
    if (hex !== undefined) {
      bytes.push(parseInt(hex, 16))
      i += 2
    } else {
      bytes.push(...Buffer.from(text[i]!, 'utf8'))
    }
  }
  return Buffer.from(bytes)
}

/** Bytes in a MIME charset (UTF-8 when none is named, or when Node does not know it). */
function decodeCharset (bytes: Buffer, charset: string | undefined): string {
  try {
    return new TextDecoder(charset ?? 'utf-8').decode(bytes)
  } catch {
    return bytes.toString('utf8')
  }
}

/** A header value with its RFC 2047 encoded words (`=?UTF-8?Q?…?=`, `=?UTF-8?B?…?=`) decoded. */
export function decodeHeaderValue (value: string): string {
  return value
    .replace(/(=\?[^?]+\?[QqBb]\?[^?]*\?=)\s+(?==\?)/g, '$1') // white space between encoded words is not text
    .replace(/=\?([^?*]+)(?:\*[^?]*)?\?([QqBb])\?([^?]*)\?=/g, (_, charset: string, encoding: string, text: string) =>
      decodeCharset(encoding.toUpperCase() === 'B' ? Buffer.from(text, 'base64') : decodeQuotedPrintable(text.replaceAll('_', ' ')), charset))
}

/** The value of `name` in a structured header (`text/plain; charset="utf-8"` → charset: utf-8). */
const parameter = (header: string, name: string) =>
  new RegExp(`;\\s*${name}="?([^";]+)"?`, 'i').exec(header)?.[1]

/** The first text/plain part of a raw message (multipart parts searched in order), decoded; undefined when there is none. */
export function textPartOf (raw: string): string | undefined {
  const split = /\r?\n\r?\n/.exec(raw)
  const headers = headersOf(raw)
  const body = split === null ? '' : raw.slice(split.index + split[0].length)
  const type = headers['content-type'] ?? 'text/plain'
  const mediaType = type.split(';')[0]!.trim().toLowerCase()
  if (mediaType.startsWith('multipart/')) {
    const boundary = parameter(type, 'boundary')
    if (boundary === undefined) return undefined
    const delimiter = new RegExp(`^--${boundary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(--)?[ \\t]*\\r?$`, 'm')
    // Preamble, the parts, and what follows the closing delimiter.
    for (const part of body.split(delimiter).filter((_, i) => i % 2 === 0).slice(1, -1)) {
      const text = textPartOf(part.replace(/^\r?\n/, ''))
      if (text !== undefined) return text
    }
    return undefined
  }
  if (mediaType !== 'text/plain') return undefined
  const encoding = (headers['content-transfer-encoding'] ?? '7bit').toLowerCase()
  const bytes = encoding === 'quoted-printable'
    ? decodeQuotedPrintable(body)
    : encoding === 'base64' ? Buffer.from(body.replace(/\s+/g, ''), 'base64') : Buffer.from(body, 'utf8')
  return decodeCharset(bytes, parameter(type, 'charset'))
}

/** A message as people read it: From, To, Subject and Date, a blank line, the decoded text part. */
export function readableMessage (raw: string): string {
  const headers = headersOf(raw)
  const head = ['From', 'To', 'Subject', 'Date']
    .filter(name => headers[name.toLowerCase()] !== undefined)
    .map(name => `${name}: ${decodeHeaderValue(headers[name.toLowerCase()]!)}`)
  const text = textPartOf(raw)
  return `${head.join('\n')}\n\n${text === undefined ? '(no text/plain part: see it with --raw)\n' : text.replace(/\r\n/g, '\n').replace(/\n?$/, '\n')}`
}
