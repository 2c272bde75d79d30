import { describe, expect, it } from 'vitest'
import { ndjsonLines } from '../../src/http/routes/event-routes.js'
import type { EventLog, LoggedEvent } from '../../src/store/event-log.js'

/** The NDJSON export reads the store page by page as the client takes them (SPEC §12: streamed, not buffered). */

function event(n: number): LoggedEvent {
  return {
    event: { type: 'RunStarted', data: { runId: 'r', startedAt: '2025-05-01T08:00:00.000Z' } },
    metadata: { eventId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`, correlationId: 'r', causationId: null, initiator: { kind: 'system', component: 'dispatcher' }, occurredAt: '2025-05-01T08:00:00.000Z' },
    version: 1,
    streamId: `run-${n}`,
    revision: 0,
    position: `1:${n}`,
    recordedAt: new Date('2025-05-01T08:00:00.000Z'),
  }
}

/** A store of `size` events that counts the pages read from it. */
function fakeLog(size: number) {
  const reads: Array<string | null> = []
  const log = {
    async readAll({ after, maxCount }: { after?: string | null; maxCount: number }) {
      reads.push(after ?? null)
      const from = after ? Number(after.split(':')[1]) + 1 : 1
      return Array.from({ length: Math.max(0, Math.min(maxCount, size - from + 1)) }, (_, i) => event(from + i))
    },
  } as unknown as EventLog
  return { log, reads }
}

describe('NDJSON export', () => {
  it('reads the next page only when the client asks for more', async () => {
    const { log, reads } = fakeLog(5_000)
    const first = await log.readAll({ after: null, maxCount: 500 })
    const reader = ndjsonLines(log, first).getReader()
    const chunk = await reader.read()
    const lines = new TextDecoder().decode(chunk.value).trimEnd().split('\n')
    expect(lines).toHaveLength(500)
    expect(JSON.parse(lines[0]!)).toMatchObject({ type: 'RunStarted', streamName: 'run-1', position: '1:1', revision: 0 })
    // One page handed over, at most one read ahead: not the whole store.
    expect(reads.length).toBeLessThanOrEqual(2)
    await reader.cancel()
  })

  it('streams every event once, in order, and ends at the end of the store', async () => {
    const { log } = fakeLog(1_234)
    const text = await new Response(ndjsonLines(log, await log.readAll({ after: null, maxCount: 500 }))).text()
    const positions = text.trimEnd().split('\n').map((line) => JSON.parse(line).position)
    expect(positions).toEqual(Array.from({ length: 1_234 }, (_, i) => `1:${i + 1}`))
  })

  it('ends at once on an empty store, with no line', async () => {
    const { log } = fakeLog(0)
    expect(await new Response(ndjsonLines(log, [])).text()).toBe('')
  })
})
