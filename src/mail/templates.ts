import type { MailContent } from '../stores/mail-store.js'

/*
 * The e-mails, as small templates: a plain-text part (the link on a line of its own, so every
 * mail client shows it whole) and an HTML part with the same words. No user data goes into
 * them but the link, so they can be rendered before the account is looked up.
 */

const escapeHtml = (value: string) => value.replace(/[&<>"']/g, c => `&#${c.charCodeAt(0)};`)

/** The host of the public URL, to tell the reader which service writes. */
const siteOf = (link: string) => new URL(link).host

const duration = (seconds: number) => seconds % 3600 === 0 ? `${seconds / 3600} hour${seconds === 3600 ? '' : 's'}` : `${Math.round(seconds / 60)} minutes`

function render (input: { subject: string, intro: string, action: string, link: string, outro: string[] }): MailContent {
  const text = [input.intro, '', `${input.action}:`, '', input.link, '', ...input.outro, ''].join('\n')
  const html = [
    '<!doctype html>',
    `<html><head><meta charset="utf-8"><title>${escapeHtml(input.subject)}</title></head><body>`,
    `<p>${escapeHtml(input.intro)}</p>`,
    `<p><a href="${escapeHtml(input.link)}">${escapeHtml(input.action)}</a></p>`,
    `<p>Or copy this address into your browser:<br>${escapeHtml(input.link)}</p>`,
    ...input.outro.map(line => `<p>${escapeHtml(line)}</p>`),
    '</body></html>',
    ''
  ].join('\n')
  return { subject: input.subject, text, html }
}

/** The password reset e-mail: its link opens GET /reset-password?token=… */
export function resetPasswordMessage (link: string, ttlSeconds: number): MailContent {
  return render({
    subject: `Reset your password at ${siteOf(link)}`,
    intro: `Someone, probably you, asked to reset the password of the account with this e-mail address at ${siteOf(link)}.`,
    action: 'Choose a new password',
    link,
    outro: [
      `The link works once, for ${duration(ttlSeconds)}. If you asked more than once, only the newest link works.`,
      'If you did not ask, ignore this message: your password stays as it is.'
    ]
  })
}

/** The address verification e-mail: its link opens GET /verify?token=… */
export function verifyEmailMessage (link: string, ttlSeconds: number): MailContent {
  return render({
    subject: `Confirm your e-mail address at ${siteOf(link)}`,
    intro: `This e-mail address was given for an account at ${siteOf(link)}.`,
    action: 'Confirm the address',
    link,
    outro: [
      `The link works once, for ${duration(ttlSeconds)}. If you asked more than once, only the newest link works.`,
      'If you did not create or change an account there, ignore this message.'
    ]
  })
}
