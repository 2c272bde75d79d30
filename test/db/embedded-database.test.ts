import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EMBEDDED_SHARED_BUFFERS, startEmbedded, type Database } from '../../src/db/database.js'

/** The embedded default stays small (issue 11): PostgreSQL's shared buffers are resident in PGlite's heap. */
describe('the embedded database', () => {
  let db: Database
  beforeAll(async () => {
    db = await startEmbedded(null)
  })
  afterAll(async () => {
    await db.close()
  })

  it('runs with small shared buffers, not PostgreSQL’s 128 MB', async () => {
    const [row] = await db.sql<Array<{ shared_buffers: string }>>`show shared_buffers`
    expect(row!.shared_buffers).toBe(EMBEDDED_SHARED_BUFFERS)
    expect(EMBEDDED_SHARED_BUFFERS).not.toBe('128MB')
    // The rest of PGlite's start parameters are kept (one process, no parallel workers).
    const [workers] = await db.sql<Array<{ max_parallel_workers: string }>>`show max_parallel_workers`
    expect(workers!.max_parallel_workers).toBe('0')
  })
})
