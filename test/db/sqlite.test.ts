import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openSqlite } from '../../src/db/sqlite.js'

describe('the embedded SQLite connection', () => {
  it('uses WAL, foreign keys, no busy timeout (a wait on the event loop; sqlite-dialect.ts waits on timers) and a small WAL (short checkpoints on the event loop)', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'sqlite-test-'))
    const db = openSqlite(join(dir, 'test.db'))
    t.after(() => { db.close(); rmSync(dir, { recursive: true, force: true }) })
    const pragma = (name: string) => Object.values(db.prepare(`PRAGMA ${name}`).all([])[0] as Record<string, unknown>)[0]
    assert.equal(pragma('journal_mode'), 'wal')
    assert.equal(pragma('foreign_keys'), 1)
    assert.equal(pragma('busy_timeout'), 0)
    assert.equal(pragma('wal_autocheckpoint'), 100)
  })
})
