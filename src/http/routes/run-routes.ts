import { Hono } from 'hono'
import { z } from 'zod'
import { capabilities } from '../../auth/capabilities.js'
import { NotFoundError } from '../../commands/errors.js'
import type { Sql } from '../../db/database.js'
import { runOutcomeSchema, runStatusSchema, streams } from '../../events/index.js'
import { getRun, listRuns, waitForRun } from '../../projections/queries.js'
import type { EventLog } from '../../store/event-log.js'
import { requireCapability, type AppEnv } from '../authentication.js'
import { readQuery } from '../request-body.js'

/** Run ids are ULIDs; anything else cannot name a run and is answered 404 without touching storage. */
const RUN_ID = /^[0-9A-HJKMNP-TV-Z]{26}$/

const listQuerySchema = z.object({
  status: runStatusSchema.optional(),
  outcome: runOutcomeSchema.optional(),
  runbook: z.string().max(200).optional(),
  tenantId: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
  cursor: z.string().max(500).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
})

/** How long GET /api/runs/{id} waits for a run its client just started to be projected (read-your-writes). */
const READ_YOUR_WRITES_TIMEOUT_MS = 3_000

function requireRunId(id: string): string {
  if (!RUN_ID.test(id)) throw new NotFoundError('run', id.slice(0, 64))
  return id
}

export function runRoutes(deps: { sql: Sql; log: EventLog }) {
  return new Hono<AppEnv>()
    .use(requireCapability(capabilities.opsView))
    .get('/', async (c) => {
      const query = readQuery(c, listQuerySchema)
      return c.json(await listRuns(deps.sql, query))
    })
    .get('/:id', async (c) => {
      const id = requireRunId(c.req.param('id'))
      let run = await getRun(deps.sql, id)
      if (!run) {
        // The run may be in the event store but not yet projected: wait only if it exists there.
        const { revision } = await deps.log.read(streams.run(id))
        if (revision !== null) run = await waitForRun(deps.sql, id, { timeoutMs: READ_YOUR_WRITES_TIMEOUT_MS })
      }
      if (!run) throw new NotFoundError('run', id)
      return c.json(run)
    })
    .get('/:id/events', async (c) => {
      const id = requireRunId(c.req.param('id'))
      const { events } = await deps.log.read(streams.run(id))
      if (events.length === 0) throw new NotFoundError('run', id)
      return c.json({
        items: events.map((e) => ({
          type: e.event.type,
          version: e.version,
          data: e.event.data,
          metadata: e.metadata,
          revision: e.revision,
          position: e.position,
          recordedAt: e.recordedAt.toISOString(),
        })),
      })
    })
}
