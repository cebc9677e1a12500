/*
 * Reads a V8 .cpuprofile (node --cpu-prof) and sums its samples, inside given time windows only
 * (the load rounds: not the start, not the idle gaps), by:
 * - area: the package, the node: module group, our file, or V8's own (gc, program) of the
 *   frame the sample was in (self time);
 * - function and area, inclusive: every sample with that frame anywhere on its stack (so
 *   `check` includes the JWT verification and the session lookup it calls).
 * Times are main-thread CPU; V8's profiler does not see other threads (GC helpers, libuv).
 */
import { readFileSync } from 'node:fs'

type CallFrame = { functionName: string, url: string, lineNumber: number, columnNumber: number }
type ProfileNode = { id: number, callFrame: CallFrame, children?: number[] }
type CpuProfile = { nodes: ProfileNode[], startTime: number, endTime: number, samples: number[], timeDeltas: number[] }

/** A window of the monotonic clock, in µs (process.hrtime.bigint() / 1000: V8's profile clock on Linux). */
export type Window = { from: number, to: number }

export type Summary = {
  /** ms of samples inside the windows, idle excluded */
  busyMs: number
  /** ms of idle samples inside the windows */
  idleMs: number
  /** self ms by area */
  self: Map<string, number>
  /** inclusive ms by area */
  areaInclusive: Map<string, number>
  /** inclusive ms by function ("name (area:line)") */
  functionInclusive: Map<string, number>
  /** self ms by function */
  functionSelf: Map<string, number>
  /** ms by component (COMPONENTS: the innermost frame of a sample that one names) */
  components: Map<string, number>
  /** the HTTP exchange's ms, by the code that was running (exchangeAreaOf) */
  exchange: Map<string, number>
}

/**
 * The parts of a GET /users/me, by the code a sample's frames belong to. A sample counts for the
 * innermost frame that one of these names (so HMAC under fast-jwt under `check` is the JWT, the
 * promise machinery of `check`'s awaits is the auth hook); samples no rule names are the HTTP
 * exchange itself (Fastify, node:http, streams, the kernel, V8).
 */
export const COMPONENTS: Array<{ name: string, test: (frame: { key: string, area: string }) => boolean }> = [
  { name: 'V8 garbage collection', test: f => f.area === 'V8 GC' || f.area === '(garbage collector)' },
  { name: 'SQLite, native (PRAGMA data_version on a cache hit)', test: f => f.area === 'sqlite (native)' || f.area === 'better-sqlite3' },
  { name: 'JWT: fast-jwt verify (decode, HMAC, claims)', test: f => f.area === 'fast-jwt' },
  { name: 'session cache and driver (src/stores, src/db, kysely)', test: f => /^(src\/stores|src\/db)\//.test(f.area) || f.area === 'kysely' },
  { name: 'sessions.authenticate: claims check, toPublic, scopes (src/services)', test: f => f.area.startsWith('src/services/') || f.area === '@sinclair/typebox' },
  { name: 'tokens.verify wrapper, key lookup (src/tokens)', test: f => f.area.startsWith('src/tokens/') },
  { name: 'bearer header (src/http)', test: f => f.area.startsWith('src/http/') },
  { name: 'auth hook: check and its awaits (plugins/auth)', test: f => f.area.startsWith('plugins/auth/') },
  { name: 'security-headers hook', test: f => f.area === 'plugins/security-headers' },
  { name: 'text-safety hook (plugins/text-safety, src/text)', test: f => f.area === 'plugins/text-safety' || f.area === 'src/text' },
  { name: 'request-body preParsing hook', test: f => f.area === 'plugins/request-body' },
  { name: 'request logger: pino child per request', test: f => f.area === 'pino' },
  { name: 'response serialiser (fast-json-stringify)', test: f => f.area === 'fast-json-stringify' },
  { name: 'process.nextTick\'s object literal on V8\'s generic path (Runtime_DefineKeyedOwnPropertyInLiteral)', test: f => f.key.includes('DefineKeyedOwnPropertyInLiteral') },
  { name: 'the floor\'s own handler (bench/equal-floor)', test: f => f.area === 'bench/equal-floor' }
]
export const HTTP_EXCHANGE = 'the HTTP exchange: Fastify, node:http, streams, kernel, V8'

const ENGINE = /^(V8 |native |libc|node C\+\+|\(program\)|other threads: (V8|native|libc|node C))/
/**
 * For a sample of the HTTP exchange: the kernel when it was there, else the innermost frame's area
 * that is JavaScript (Fastify, node:http, streams…): V8's builtins and runtime, libc and node's C++
 * count for the JavaScript that called them (promise reactions for node:process or Fastify's hook
 * runner, property loads for whoever loaded).
 */
export function exchangeAreaOf (frames: Array<{ key: string, area: string }>): string {
  if (frames[0]?.area.includes('kernel') === true) return frames[0].area
  return frames.find(f => !ENGINE.test(f.area))?.area ?? frames[0]?.area ?? '?'
}

/** The component of a sample, from its frames, innermost first. */
export function componentOf (frames: Array<{ key: string, area: string }>): string {
  for (const frame of frames) for (const c of COMPONENTS) if (c.test(frame)) return c.name
  return HTTP_EXCHANGE
}

/** Where a frame's code lives: a package, a group of node's own modules, one of our files, or V8's own. */
export function areaOf (frame: CallFrame): string {
  const { url, functionName } = frame
  if (url === '') return functionName.startsWith('(') ? functionName : `native ${functionName || '(anonymous)'}`
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)
  if (pkg !== null) return pkg[1]!
  if (url.startsWith('node:')) {
    const path = url.slice(5).replace(/^internal\//, '')
    if (/^(_http|http)/.test(path)) return 'node:http'
    if (/^(net|stream|streams\/|_stream|timers|async_hooks|process\/task_queues)/.test(path)) return `node:${path.split('/')[0]!.replace(/^_/, '')}`
    return `node:${path.split('/')[0]}`
  }
  const ours = /\/dist\/(.*)\.js$/.exec(url)
  if (ours !== null) return ours[1]!
  return url.replace(/^file:\/\//, '')
}

const functionKey = (frame: CallFrame) => `${frame.functionName || '(anonymous)'} (${areaOf(frame)}:${frame.lineNumber + 1})`

export function summarize (file: string, windows: Window[]): Summary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  const byId = new Map(profile.nodes.map(n => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  // Per node: the areas and functions on its stack (each once: recursion is not counted twice).
  const stacks = new Map<number, { areas: Set<string>, functions: Set<string> }>()
  const stackOf = (id: number): { areas: Set<string>, functions: Set<string> } => {
    const known = stacks.get(id)
    if (known !== undefined) return known
    const node = byId.get(id)!
    const up = parent.get(id)
    const above = up === undefined ? { areas: new Set<string>(), functions: new Set<string>() } : stackOf(up)
    const own = node.callFrame.functionName === '(root)'
      ? above
      : { areas: new Set([...above.areas, areaOf(node.callFrame)]), functions: new Set([...above.functions, functionKey(node.callFrame)]) }
    stacks.set(id, own)
    return own
  }
  const add = (map: Map<string, number>, key: string, ms: number) => map.set(key, (map.get(key) ?? 0) + ms)
  const summary: Summary = { busyMs: 0, idleMs: 0, self: new Map(), areaInclusive: new Map(), functionInclusive: new Map(), functionSelf: new Map(), components: new Map(), exchange: new Map() }
  const frameList = (id: number): Array<{ key: string, area: string }> => {
    const list = []
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)!.callFrame
      list.push({ key: functionKey(frame), area: areaOf(frame) })
    }
    return list
  }
  const sorted = [...windows].sort((a, b) => a.from - b.from)
  const inside = (t: number) => sorted.some(w => t >= w.from && t <= w.to)
  let t = profile.startTime
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i]!
    const next = profile.timeDeltas[i + 1] ?? 0
    if (!inside(t)) continue
    const ms = next / 1000
    const node = byId.get(profile.samples[i]!)!
    const area = areaOf(node.callFrame)
    if (area === '(idle)') { summary.idleMs += ms; continue }
    summary.busyMs += ms
    add(summary.self, area, ms)
    add(summary.functionSelf, functionKey(node.callFrame), ms)
    const frames = frameList(node.id)
    const component = componentOf(frames)
    add(summary.components, component, ms)
    if (component === HTTP_EXCHANGE) add(summary.exchange, exchangeAreaOf(frames), ms)
    const stack = stackOf(node.id)
    for (const a of stack.areas) add(summary.areaInclusive, a, ms)
    for (const f of stack.functions) add(summary.functionInclusive, f, ms)
  }
  return summary
}
