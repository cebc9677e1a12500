// node:test's spec reporter, with an honest summary: a suite skipped whole (`describe(…, { skip })`)
// never registers its tests, so the runner counts none of them as skipped and says "skipped 0".
// This reporter counts those suites and says so on the same line ("skipped 0 tests, 5 suites"),
// and lists them with their reasons after the summary. Works on Node 20 to 24 (scripts/run-tests.js).
import { Readable } from 'node:stream'
import { spec as SpecReporter } from 'node:test/reporters'

/** Whether an event is a suite that was skipped whole. */
export const isSkippedSuite = (event) =>
  (event.type === 'test:pass' || event.type === 'test:fail') &&
  event.data.skip !== undefined && event.data.skip !== false &&
  event.data.details?.type === 'suite'

/**
 * The events with the summary's "skipped N" diagnostic rewritten to count skipped suites too,
 * and a line per skipped suite after it.
 */
export async function * honestSummary (source) {
  const skipped = []
  for await (const event of source) {
    if (isSkippedSuite(event)) skipped.push(`${event.data.name}${typeof event.data.skip === 'string' ? ` # ${event.data.skip}` : ''}`)
    const message = event.type === 'test:diagnostic' ? /^skipped (\d+)$/.exec(event.data.message) : null
    if (message === null) {
      yield event
      continue
    }
    yield { ...event, data: { ...event.data, message: `skipped ${message[1]} tests, ${skipped.length} suites` } }
    for (const suite of skipped) yield { ...event, data: { ...event.data, message: `  skipped suite: ${suite}` } }
  }
}

export default async function * honestSpec (source) {
  yield * Readable.from(honestSummary(source)).pipe(new SpecReporter())
}
