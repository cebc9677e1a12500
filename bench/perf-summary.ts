/*
 * Reads `perf script -F comm,tid,period,ip,sym,dso` output of `perf record -e cpu-clock -g -p <pid>`
 * on a node started with --perf-basic-prof, and sums it as bench/cpuprofile.ts sums a V8 profile:
 * self time by area, inclusive time by area and by function. Unlike V8's sampler, which ticks on
 * the wall clock (a thread preempted in a system call goes on collecting samples there), cpu-clock
 * samples a thread only while it runs, in the kernel too, on every thread of the process. So its
 * times are CPU time. Frames of functions V8 inlined are not seen: their time is their caller's.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { areaOf, componentOf, exchangeAreaOf, HTTP_EXCHANGE, type Summary } from './cpuprofile.js'

/**
 * Rewrites a /tmp/perf-<pid>.map (node --perf-basic-prof) so that each address names the code
 * that was there last: V8 reuses the space of collected code, the map keeps every entry, and perf
 * would then name a hot function after whatever start-up code once lived at its address. An
 * entry is dropped when a later one overlaps it. The profiles are taken after a warm-up, so the
 * latest code is the code that ran.
 */
export function keepLatestPerfMapEntries (path: string): void {
  const entries = readFileSync(path, 'utf8').split('\n').filter(Boolean).map(line => {
    const [start, size] = line.split(' ', 2)
    return { from: parseInt(start!, 16), to: parseInt(start!, 16) + parseInt(size!, 16), line }
  })
  const kept: typeof entries = [] // sorted by `from`, none overlapping
  for (let i = entries.length - 1; i >= 0; i--) {
    const entry = entries[i]!
    let lo = 0
    let hi = kept.length
    while (lo < hi) { const mid = (lo + hi) >> 1; if (kept[mid]!.from < entry.from) lo = mid + 1; else hi = mid }
    const overlaps = (lo > 0 && kept[lo - 1]!.to > entry.from) || (lo < kept.length && kept[lo]!.from < entry.to)
    if (!overlaps) kept.splice(lo, 0, entry)
  }
  writeFileSync(path, kept.map(e => e.line).join('\n') + '\n')
}

/** A frame's function key and area, as cpuprofile.ts names V8 profile frames where it can. */
function frameOf (sym: string, dso: string, mainThread: boolean): { key: string, area: string } {
  const js = /^JS:[*~^+]?(.*?) ?((?:file:\/\/|node:|\/)\S*):(\d+):(\d+)$/.exec(sym)
  if (js !== null) {
    const [, name, url, line] = js
    const area = areaOf({ functionName: name!, url: url!, lineNumber: Number(line) - 1, columnNumber: 0 })
    return { key: `${name || '(anonymous)'} (${area}:${line})`, area }
  }
  if (sym.startsWith('RegExp:')) return { key: sym, area: 'V8 regexp' }
  let area: string
  if (dso.includes('kernel')) {
    if (/tcp|^ip_|_ip_|inet|net_|netif|napi|skb|sock|dev_|loopback|softirq|process_backlog|sk_/.test(sym)) area = 'kernel: network'
    else if (/schedule|switch|wake|futex|enqueue|dequeue|pick_next|update_curr|hrtimer/.test(sym)) area = 'kernel: scheduler'
    else area = 'kernel: other'
  } else if (dso.includes('sqlite')) area = 'sqlite (native)'
  else if (/Heap|Scaveng|MarkCompact|Marking|Sweep|Evacuat|Incremental|Collector|\bGC/.test(sym)) area = 'V8 GC'
  else if (sym.startsWith('Builtins_')) area = 'V8 builtins'
  else if (sym.startsWith('v8::')) area = 'V8 runtime'
  else if (sym.startsWith('llhttp')) area = 'llhttp'
  else if (/^(sha\d|HMAC|EVP_|ossl_|CRYPTO_|OPENSSL)/i.test(sym)) area = 'OpenSSL'
  else if (sym.startsWith('node::') || sym.startsWith('uv_') || sym.startsWith('uv__')) area = 'node C++ / libuv'
  else if (dso.includes('libc')) area = 'libc'
  else area = `native ${dso.replace(/.*\//, '')}`
  if (!mainThread && area !== 'V8 GC') area = `other threads: ${area}`
  return { key: sym.length > 90 ? sym.slice(0, 90) + '…' : sym, area }
}

/**
 * Sums `perf script` text. `pid`: the process's main thread (samples of other threads are
 * labelled so). Returns ms of CPU (the samples' periods are in ns).
 */
export function summarizePerf (text: string, pid: number): Summary {
  const summary: Summary = { busyMs: 0, idleMs: 0, self: new Map(), areaInclusive: new Map(), functionInclusive: new Map(), functionSelf: new Map(), components: new Map(), exchange: new Map() }
  const add = (map: Map<string, number>, key: string, ms: number) => map.set(key, (map.get(key) ?? 0) + ms)
  for (const block of text.split(/\n\s*\n/)) {
    const lines = block.split('\n').filter(line => line.trim() !== '')
    const header = /^\s*\S.*?\s+(\d+)\s+(\d+)\s*$/.exec(lines[0] ?? '')
    if (header === null) continue
    const tid = Number(header[1])
    const ms = Number(header[2]) / 1e6
    const frames = lines.slice(1).map(line => /^\s*[0-9a-f]+\s+(.*?)\s+\(([^)]*)\)\s*$/.exec(line)).filter(m => m !== null)
      .map(m => frameOf(m[1]!, m[2]!, tid === pid))
    if (frames.length === 0) continue
    summary.busyMs += ms
    add(summary.self, frames[0]!.area, ms)
    add(summary.functionSelf, frames[0]!.key, ms)
    const component = componentOf(frames)
    add(summary.components, component, ms)
    if (component === HTTP_EXCHANGE) add(summary.exchange, exchangeAreaOf(frames), ms)
    for (const area of new Set(frames.map(f => f.area))) add(summary.areaInclusive, area, ms)
    for (const key of new Set(frames.map(f => f.key))) add(summary.functionInclusive, key, ms)
  }
  return summary
}
