import type { MailContent } from '../stores/mail-store.js'

/*
 * The e-mails, as small templates: a plain-text part (the link on a line of its own, so every
 * mail client shows it whole) and an HTML part with the same words. No user data goes into
 * them but the link, so they can be rendered before the account is looked up; the notices of a
 * change name only the new address, to the old one.
 */

const escapeHtml = (value: string) => value.replace(/[&<>"']/g, c => `&#${c.charCodeAt(0)};`)

/** The host of the public URL, to tell the reader which service writes. */
const siteOf = (link: string) => new URL(link).host

const duration = (seconds: number) => seconds % 3600 === 0 ? `${seconds / 3600} hour${seconds === 3600 ? '' : 's'}` : `${Math.round(seconds / 60)} minutes`

function render (input: { subject: string, intro: string, action?: string, link?: string, outro: string[] }): MailContent {
  const call = input.action !== undefined && input.link !== undefined ? { action: input.action, link: input.link } : undefined
  const text = [input.intro, '', ...(call === undefined ? [] : [`${call.action}:`, '', call.link, '']), ...input.outro, ''].join('\n')
  const html = [
    '<!doctype html>',
    `<html><head><meta charset="utf-8"><title>${escapeHtml(input.subject)}</title></head><body>`,
    `<p>${escapeHtml(input.intro)}</p>`,
    ...(call === undefined
      ? []
      : [`<p><a href="${escapeHtml(call.link)}">${escapeHtml(call.action)}</a></p>`, `<p>Or copy this address into your browser:<br>${escapeHtml(call.link)}</p>`]),
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

/** A change the account's owner is told about on their address (ASVS 6.3.7): it may not have been them. */
export type AccountNotice =
  | { kind: 'email-changed', newEmail: string | null }
  | { kind: 'password-changed' }

/**
 * The notice of a sensitive change, sent to the address the account had before it (for an e-mail
 * change, the old one). `site` is the public URL's host; `at` the time of the change.
 */
export function accountNoticeMessage (notice: AccountNotice, site: string, at: Date): MailContent {
  const when = at.toUTCString()
  const what = notice.kind === 'email-changed'
    ? notice.newEmail === null
      ? `The e-mail address of your account at ${site} was removed on ${when}.`
      : `The e-mail address of your account at ${site} was changed to ${notice.newEmail} on ${when}. Messages about the account now go there.`
    : `The password of your account at ${site} was changed on ${when}. Every other session of the account was ended.`
  return render({
    subject: notice.kind === 'email-changed' ? `Your e-mail address at ${site} was changed` : `Your password at ${site} was changed`,
    intro: what,
    outro: [
      'If this was you, there is nothing to do.',
      notice.kind === 'email-changed'
        ? 'If it was not, someone has your password or a session of yours: contact the site\'s administrators at once, from this address.'
        : 'If it was not, ask for a password reset at once with this address, and contact the site\'s administrators.'
    ]
  })
}
