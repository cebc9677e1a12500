// Serves the browser app (index.html, app.js, style.css) on an origin of its own, pointed at the
// auth API by API_URL. The API must list this origin in CORS_ORIGINS and be on the same site
// (see README.md). Plain node:http, no dependencies:
//
//   API_URL=http://127.0.0.1:3000 APP_PORT=5173 node examples/browser-app/server.mjs
import { createServer } from 'node:http'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'

const FILES = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/index.html': ['index.html', 'text/html; charset=utf-8'],
  '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/style.css': ['style.css', 'text/css; charset=utf-8']
}

/**
 * The app's HTTP server (not yet listening). `apiUrl` is the auth API's base URL: written into
 * the page, and the only origin besides its own that the page's Content-Security-Policy lets it
 * call, so an injected script cannot post the in-memory access token anywhere else.
 * `onRequest(request)`, when given, sees every request first (the browser test records them).
 */
export function createAppServer ({ apiUrl, onRequest }) {
  const api = new URL(apiUrl)
  const base = `${api.origin}${api.pathname.replace(/\/+$/, '')}`
  const csp = `default-src 'self'; connect-src ${api.origin}; script-src 'self'; style-src 'self'; img-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'`
  return createServer(async (request, response) => {
    onRequest?.(request)
    const path = new URL(request.url ?? '/', 'http://app').pathname
    const file = FILES[path]
    if (file === undefined || (request.method !== 'GET' && request.method !== 'HEAD')) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
      return
    }
    let body = await readFile(fileURLToPath(new URL(file[0], import.meta.url)), 'utf8')
    if (file[0] === 'index.html') body = body.replace(/(<meta name="auth-api" content=")[^"]*(")/, `$1${escapeAttribute(base)}$2`)
    response.writeHead(200, {
      'content-type': file[1],
      'cache-control': 'no-store',
      'content-security-policy': csp,
      'referrer-policy': 'no-referrer',
      'x-content-type-options': 'nosniff'
    }).end(request.method === 'HEAD' ? undefined : body)
  })
}

const escapeAttribute = (text) => text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;')

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const apiUrl = process.env.API_URL ?? 'http://127.0.0.1:3000'
  const host = process.env.APP_HOST ?? '127.0.0.1'
  const port = Number(process.env.APP_PORT ?? 5173)
  const server = createAppServer({ apiUrl })
  server.listen(port, host, () => {
    const origin = `http://${host.includes(':') ? `[${host}]` : host}:${server.address().port}`
    console.log(`browser app at ${origin}/ using the auth API at ${apiUrl}`)
    console.log(`start the API with CORS_ORIGINS=${origin} (same site as the app: see examples/browser-app/README.md)`)
  })
}
