import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import Fastify from 'fastify'
import { deferredChildLogger } from '../../src/http/request-log.js'

/*
 * The server's request loggers (src/http/request-log.ts deferredChildLogger): pino's child made
 * only when a request writes a line, with the same lines, bindings and levels as pino's own.
 */

/** A Fastify app logging at `level` into a list of parsed lines, with the deferred children. */
async function logging (level: string) {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({ write (chunk, _encoding, done) { for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>); done() } })
  const app = Fastify({ logger: { level, stream }, childLoggerFactory: deferredChildLogger })
  app.get('/quiet', async request => { request.log.info('not written at warn'); request.log.debug('nor this'); return { ok: true } })
  app.get('/loud', async request => { request.log.warn({ event: 'x' }, 'written'); return { ok: true } })
  app.get('/child', async request => {
    const child = request.log.child({ part: 'inner' })
    child.warn('from the child')
    return { bindings: (request.log as unknown as { bindings: () => unknown }).bindings(), level: request.log.level }
  })
  app.get('/levels', async request => {
    request.log.level = 'debug'
    request.log.debug('debug on this request only')
    return { level: request.log.level }
  })
  app.get('/fails', async () => { throw new Error('boom') })
  await app.ready()
  return { app, lines }
}

describe('request loggers made on first use', () => {
  it('writes nothing below the level, and a line with the request id at it', async (t) => {
    const { app, lines } = await logging('warn')
    t.after(() => app.close())
    await app.inject({ url: '/quiet' })
    assert.equal(lines.length, 0, JSON.stringify(lines))
    const loud = await app.inject({ url: '/loud' })
    assert.equal(loud.statusCode, 200)
    assert.equal(lines.length, 1)
    assert.equal(lines[0]!.msg, 'written')
    assert.equal(lines[0]!.event, 'x')
    assert.match(String(lines[0]!.reqId), /^req-/)
    assert.equal(lines[0]!.level, 40)
  })

  it('gives children, bindings and the level as pino does, and a level change stays on its request', async (t) => {
    const { app, lines } = await logging('warn')
    t.after(() => app.close())
    const child = await app.inject({ url: '/child' })
    const { bindings, level } = child.json<{ bindings: Record<string, unknown>, level: string }>()
    assert.match(String(bindings.reqId), /^req-/)
    assert.equal(level, 'warn')
    assert.equal(lines[0]!.part, 'inner')
    assert.equal(lines[0]!.reqId, bindings.reqId)
    assert.equal((await app.inject({ url: '/levels' })).json<{ level: string }>().level, 'debug')
    assert.ok(lines.some(line => line.msg === 'debug on this request only' && line.level === 20))
    const before = lines.length
    await app.inject({ url: '/quiet' })
    assert.equal(lines.length, before, 'the next request is at warn again')
    assert.equal(app.log.level, 'warn')
  })

  it('logs a failing request\'s error with its id, as Fastify does', async (t) => {
    const { app, lines } = await logging('info')
    t.after(() => app.close())
    assert.equal((await app.inject({ url: '/fails' })).statusCode, 500)
    const error = lines.find(line => line.level === 50)
    assert.ok(error !== undefined, JSON.stringify(lines))
    assert.match(String(error.reqId), /^req-/)
    assert.equal((error.err as { message: string }).message, 'boom')
  })

  it('follows a level change of the app logger, as a child made at that moment would', async (t) => {
    const { app, lines } = await logging('warn')
    t.after(() => app.close())
    app.log.level = 'info'
    await app.inject({ url: '/quiet' })
    assert.deepEqual(lines.map(l => l.msg), ['incoming request', 'not written at warn', 'request completed'], 'Fastify\'s own request lines too, at info')
  })
})

describe('request loggers made on first use, without a logger', () => {
  it('serves and logs nothing with `logger: false` (the null logger has no levels to check)', async (t) => {
    const app = Fastify({ logger: false, childLoggerFactory: deferredChildLogger })
    t.after(() => app.close())
    app.get('/logs', async request => { request.log.warn('nowhere'); request.log.child({ a: 1 }).error('nowhere either'); return { ok: true } })
    assert.equal((await app.inject({ url: '/logs' })).statusCode, 200)
    assert.equal((await app.inject({ url: '/missing' })).statusCode, 404)
  })
})

describe('request loggers made on first use, with levels of pino\'s own', () => {
  it('writes custom levels with the request id, and levelVal follows a level change (found from outside)', async (t) => {
    const lines: Array<Record<string, unknown>> = []
    const stream = new Writable({ write (chunk, _encoding, done) { for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>); done() } })
    const app = Fastify({ logger: { level: 'info', customLevels: { audit: 35 }, stream }, childLoggerFactory: deferredChildLogger })
    t.after(() => app.close())
    app.get('/audit', async request => { (request.log as unknown as { audit: (msg: string) => void }).audit('audited'); return { ok: true } })
    app.get('/level', async request => {
      const before = (request.log as unknown as { levelVal: number }).levelVal
      request.log.level = 'debug'
      return { before, after: (request.log as unknown as { levelVal: number }).levelVal }
    })
    await app.inject({ url: '/audit' })
    const audited = lines.find(line => line.msg === 'audited')
    assert.ok(audited !== undefined)
    assert.match(String(audited.reqId), /^req-/)
    assert.deepEqual((await app.inject({ url: '/level' })).json(), { before: 30, after: 20 })
  })

  it('gives levelVal as pino does without custom levels too', async (t) => {
    const app = Fastify({ logger: { level: 'warn' }, childLoggerFactory: deferredChildLogger })
    t.after(() => app.close())
    app.get('/level', async request => {
      const before = (request.log as unknown as { levelVal: number }).levelVal
      request.log.level = 'debug'
      return { before, after: (request.log as unknown as { levelVal: number }).levelVal }
    })
    assert.deepEqual((await app.inject({ url: '/level' })).json(), { before: 40, after: 20 })
  })
})
