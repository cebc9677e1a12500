import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { Writable } from 'node:stream'
import Fastify from 'fastify'
import app, { fastifyOptions, REQUEST_TIMEOUT_MS } from '../../src/app.js'
import { eventually, isolatedTestConfig } from '../helper.js'

/*
 * A client that stalls its request is cut off; a client that goes away while its body is read (a reset mid-upload) is a client error (400, to
 * nobody), never a dependency outage (found from outside: every aborted upload over the body
 * limit wrote "dependency unavailable" at warn, an alert a stranger could raise at will), over
 * the limit (the body drained before the 413) or within it.
 */
describe('a client that aborts its upload', () => {
  it('is a client error, never a warning of a dependency unavailable', async (t) => {
    const lines: Array<Record<string, unknown>> = []
    const stream = new Writable({ write (chunk, _encoding, done) { for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>); done() } })
    const config = await isolatedTestConfig({ LOG_LEVEL: 'info' })
    const server = Fastify({ ...fastifyOptions(config), logger: { ...(fastifyOptions(config).logger as object), stream } })
    t.after(() => server.close())
    // What Fastify saw of each request's end (the socket is gone: no "request completed" line).
    const statuses: number[] = []
    server.addHook('onError', (_request, _reply, error, done) => { statuses.push(error.statusCode ?? 500); done() })
    await server.register(app, { config })
    await server.listen({ port: 0, host: '127.0.0.1' })
    const { port } = server.server.address() as { port: number }

    /** Announces `length` bytes, sends `sent`, then closes the socket. */
    const abort = async (length: number, sent: number) => {
      const socket = connect(port, '127.0.0.1')
      await new Promise(resolve => socket.once('connect', resolve))
      socket.write(`POST /register HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`)
      await new Promise<void>(resolve => socket.write(Buffer.alloc(sent, 'a'), () => { resolve() }))
      socket.destroy()
    }
    await abort(3 * 1024 * 1024, 1024 * 1024) // over the limit: being drained before the 413
    await abort(500_000, 1000) // within it: being read for the parser

    await eventually(async () => statuses.length, count => count >= 2)
    assert.deepEqual(statuses, [400, 400], 'the client\'s error, over the limit and within it')
    assert.deepEqual(lines.filter(line => line.reqId !== undefined && Number(line.level) >= 40).map(line => line.msg), [], 'no warning, no error for either request')
    assert.equal((await fetch(`http://127.0.0.1:${port}/health`)).status, 200)
  })
})

describe('a client that stalls its request (slowloris)', () => {
  it('has REQUEST_TIMEOUT_MS (30 s) for the whole request and its headers, checked every 5 s, not Fastify\'s unlimited default', async () => {
    const options = fastifyOptions(await isolatedTestConfig())
    assert.equal(options.requestTimeout, REQUEST_TIMEOUT_MS)
    assert.ok(REQUEST_TIMEOUT_MS > 0 && REQUEST_TIMEOUT_MS <= 60_000)
    assert.deepEqual(options.http, { requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: REQUEST_TIMEOUT_MS, connectionsCheckingInterval: 5_000 })
  })

  it('is cut off with 408 once the timeout passes, headers sent and the body stalled (a short timeout here)', async (t) => {
    const config = await isolatedTestConfig()
    const server = Fastify({ ...fastifyOptions(config), requestTimeout: 600, http: { requestTimeout: 600, headersTimeout: 600, connectionsCheckingInterval: 100 } })
    t.after(() => server.close())
    await server.register(app, { config })
    await server.listen({ port: 0, host: '127.0.0.1' })
    const { port } = server.server.address() as { port: number }
    const socket = connect(port, '127.0.0.1')
    t.after(() => socket.destroy())
    const received: Buffer[] = []
    socket.on('data', chunk => received.push(chunk))
    const closed = new Promise(resolve => socket.once('close', resolve))
    socket.write('POST /register HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"usern')
    const started = Date.now()
    await Promise.race([closed, new Promise((_resolve, reject) => setTimeout(() => { reject(new Error('still open after 10 s')) }, 10_000))])
    assert.match(Buffer.concat(received).toString('latin1'), /^HTTP\/1\.1 408 /)
    assert.ok(Date.now() - started < 5_000)
    assert.equal((await fetch(`http://127.0.0.1:${port}/health`)).status, 200)
  })
})
