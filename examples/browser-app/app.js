/* global document, fetch, FormData, URLSearchParams, setTimeout, clearTimeout */
'use strict'

/*
 * A single-page app on another origin than the auth API, as the OAuth 2.0 for Browser-Based Apps
 * BCP would have it: the refresh token never reaches JavaScript (the API keeps it in an HttpOnly
 * cookie, sent only with `X-Token-Transport: cookie` and `credentials: 'include'`), and the access
 * token lives in this variable only: not in localStorage, not in a cookie JavaScript can read.
 * A reload loses it; the first thing the page does is get a new one from the cookie.
 * Plain browser JavaScript, no build step.
 */

const API = document.querySelector('meta[name="auth-api"]').content.replace(/\/+$/, '')
/** Opts the request into the cookie; a custom header, so a page on another origin needs the API's CORS consent first. */
const COOKIE_MODE = { 'X-Token-Transport': 'cookie' }

let accessToken = null
let refreshTimer
/** The refresh in flight in this tab, shared by whoever needs one meanwhile. */
let refreshing = null

const $ = (selector) => document.querySelector(selector)

function log (text) {
  const item = document.createElement('li')
  item.textContent = text
  $('#log').append(item)
}

function show (state, text) {
  $('#status').dataset.state = state
  $('#status').textContent = text
  $('#login').hidden = state !== 'logged-out'
  $('#session').hidden = state !== 'logged-in'
}

/** An error with the API's message: `error_description` (RFC 6749) or Fastify's `message`. */
async function failure (response) {
  const body = await response.json().catch(() => ({}))
  const error = new Error(body.error_description ?? body.message ?? `HTTP ${response.status}`)
  error.status = response.status
  return error
}

/**
 * POST /token in cookie mode. The answer has the access token; the refresh token came as a cookie
 * this page cannot see, and the body has none.
 */
async function tokenRequest (fields) {
  const response = await fetch(`${API}/token`, {
    method: 'POST',
    credentials: 'include',
    headers: COOKIE_MODE,
    body: new URLSearchParams(fields)
  })
  log(`POST /token (${fields.grant_type}) → ${response.status}`)
  if (!response.ok) throw await failure(response)
  const tokens = await response.json()
  accessToken = tokens.access_token
  $('#scope').textContent = tokens.scope
  // A new access token shortly before this one expires, while the tab stays open.
  clearTimeout(refreshTimer)
  refreshTimer = setTimeout(() => { refresh().catch(loggedOut) }, Math.max(5, tokens.expires_in - 30) * 1000)
  return tokens
}

/** A new access token from the refresh cookie (grant_type=refresh_token without refresh_token). */
function refresh () {
  refreshing ??= tokenRequest({ grant_type: 'refresh_token' }).finally(() => { refreshing = null })
  return refreshing
}

/** A protected request with the access token; after a 401, one refresh and one retry. */
async function api (path, init = {}, retry = true) {
  const response = await fetch(`${API}${path}`, { ...init, headers: { ...init.headers, Authorization: `Bearer ${accessToken}` } })
  log(`${init.method ?? 'GET'} ${path} → ${response.status}`)
  if (response.status === 401 && retry) {
    await refresh()
    return api(path, init, false)
  }
  if (!response.ok) throw await failure(response)
  return response
}

async function showUser () {
  const me = await (await api('/users/me')).json()
  $('#username').textContent = me.username
  show('logged-in', `Logged in as ${me.username}`)
}

function loggedOut (error) {
  accessToken = null
  clearTimeout(refreshTimer)
  show('logged-out', error === undefined ? 'Logged out' : `Not logged in: ${error.message}`)
}

$('#api').textContent = API

$('#login').addEventListener('submit', async (event) => {
  event.preventDefault()
  const form = new FormData(event.target)
  try {
    await tokenRequest({ grant_type: 'password', username: form.get('username'), password: form.get('password') })
    event.target.reset()
    await showUser()
  } catch (error) {
    show('logged-out', `Login failed: ${error.message}`)
  }
})

$('#refresh').addEventListener('click', async () => {
  try {
    await refresh()
    await showUser()
  } catch (error) {
    loggedOut(error)
  }
})

$('#logout').addEventListener('click', async () => {
  try {
    // Ends the session of the access token; with the header, the API also clears the refresh cookie.
    await api('/logout', { method: 'POST', credentials: 'include', headers: COOKIE_MODE })
    loggedOut()
  } catch (error) {
    show('error', `Logout failed: ${error.message}`)
  }
})

// On load (and so after every reload): still logged in if the refresh cookie says so.
refresh().then(showUser, loggedOut)
