import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createTransport } from 'nodemailer'
import { decodeHeaderValue, decodeQuotedPrintable, readableMessage, textPartOf } from '../../src/mail/transport.js'

/* `mail show` without --raw: the text part decoded from its transfer encoding (src/mail/transport.ts). */

/** The raw message nodemailer writes for these fields, as the file transport stores it. */
async function compose (fields: { subject: string, text: string, html?: string, textEncoding?: 'quoted-printable' | 'base64' }) {
  const composer = createTransport({ streamTransport: true, buffer: true, newline: 'unix' })
  const info = await composer.sendMail({ from: 'Auth <no-reply@example.com>', to: 'alice@example.com', date: new Date('2026-01-02T03:04:05Z'), ...fields })
  return (info.message as Buffer).toString('utf8')
}

const LINK = `https://auth.example.com/reset-password?token=${'Ab0_-'.repeat(8)}xyz`

describe('decodeQuotedPrintable', () => {
  it('restores =XX octets (UTF-8 across several), joins soft line breaks and drops trailing white space', () => {
    assert.equal(decodeQuotedPrintable('token=3Dabc').toString(), 'token=abc')
    assert.equal(decodeQuotedPrintable('caf=C3=A9 na=C3=AFve').toString(), 'café naïve')
    assert.equal(decodeQuotedPrintable('https://a.example/verify?token=3DAcI3rkoBdwDCmk_yhT=\nyMlngTQ').toString(), 'https://a.example/verify?token=AcI3rkoBdwDCmk_yhTyMlngTQ')
    assert.equal(decodeQuotedPrintable('soft=\r\nbreak  \r\nnext').toString(), 'softbreak\r\nnext')
    assert.equal(decodeQuotedPrintable('a lone = stays, =ZZ too').toString(), 'a lone = stays, =ZZ too')
  })
})

describe('decodeHeaderValue', () => {
  it('decodes RFC 2047 encoded words, Q and B, and leaves plain text alone', () => {
    assert.equal(decodeHeaderValue('=?UTF-8?Q?R=C3=A9initialiser_le_mot_de_passe?='), 'Réinitialiser le mot de passe')
    assert.equal(decodeHeaderValue('=?utf-8?B?w6l0w6k=?= =?utf-8?B?IGTDqWrDoA==?='), 'été déjà')
    assert.equal(decodeHeaderValue('Confirm your e-mail address'), 'Confirm your e-mail address')
  })
})

describe('readableMessage', () => {
  it('prints From, To, Subject, Date and the text part of what nodemailer writes, quoted-printable', async () => {
    const raw = await compose({ subject: 'Reset your password', text: `Hello,\n\nOpen this link:\n\n${LINK}\n\nBye`, html: `<p><a href="${LINK}">reset</a></p>` })
    assert.ok(!raw.includes(LINK), 'the raw message wraps and escapes the link')
    assert.equal(readableMessage(raw), [
      'From: Auth <no-reply@example.com>',
      'To: alice@example.com',
      'Subject: Reset your password',
      'Date: Fri, 02 Jan 2026 03:04:05 +0000',
      '',
      'Hello,',
      '',
      'Open this link:',
      '',
      LINK,
      '',
      'Bye',
      ''
    ].join('\n'))
  })

  it('decodes base64 text parts, non-ASCII text and encoded subjects', async () => {
    const text = `Bonjour Zoë ✓, ouvrez ce lien :\n${LINK}\n`
    for (const textEncoding of ['base64', 'quoted-printable'] as const) {
      const raw = await compose({ subject: 'Réinitialiser ✓', text, textEncoding })
      assert.equal(textPartOf(raw), text, textEncoding)
      assert.match(readableMessage(raw), /^Subject: Réinitialiser ✓$/m, textEncoding)
    }
  })

  it('finds the text part in nested multiparts, after an html one, and says so when there is none', () => {
    const nested = [
      'Content-Type: multipart/mixed; boundary="outer"',
      '',
      'preamble',
      '--outer',
      'Content-Type: multipart/alternative; boundary=inner',
      '',
      '--inner',
      'Content-Type: text/html; charset=utf-8',
      '',
      '<p>html</p>',
      '--inner',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: quoted-printable',
      '',
      'plain =E2=9C=93',
      '--inner--',
      '--outer--',
      ''
    ].join('\r\n')
    assert.equal(textPartOf(nested)?.trim(), 'plain ✓')
    const htmlOnly = 'Subject: x\nContent-Type: text/html\n\n<p>only html</p>\n'
    assert.equal(textPartOf(htmlOnly), undefined)
    assert.match(readableMessage(htmlOnly), /no text\/plain part: see it with --raw/)
  })
})
