/**
 * The bench's settings (environment), shared by every part. Nothing here is the service's configuration:
 * the service runs as a child process with its own environment (see service.ts).
 *
 *   BENCH_POSTGRES_URL   admin connection (default postgres://postgres@127.0.0.1:5432/postgres)
 *   BENCH_NATS_URL       (default nats://127.0.0.1:4222)
 *   BENCH_SCALE          multiplies every shape's tenant count (default 1; 0.1 for a smoke run)
 *   BENCH_REPETITIONS    overrides every part's repetitions (default: per part, see its output)
 *   BENCH_RUN_TIMEOUT_S  a run that has not completed by then is reported failed (default 600)
 *   WORKER_CONCURRENCY   the service's and the floor's concurrency (default 4)
 *   BENCH_SHAPES         the backfill shapes to run, e.g. `2000x20,10000x20` (default: all four)
 */
import { fileURLToPath } from 'node:url'
import { dirname, resolve } from 'node:path'
import { randomBytes } from 'node:crypto'

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const adminUrl = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
export const natsUrl = process.env.BENCH_NATS_URL ?? 'nats://127.0.0.1:4222'
export const scale = Number(process.env.BENCH_SCALE ?? 1)
export const concurrency = Number(process.env.WORKER_CONCURRENCY ?? 4)
export const runTimeoutMs = Number(process.env.BENCH_RUN_TIMEOUT_S ?? 600) * 1000
/** The backfill shapes selected by BENCH_SHAPES (null: all). */
export const selectedShapes: ReadonlySet<string> | null = process.env.BENCH_SHAPES ? new Set(process.env.BENCH_SHAPES.split(',').map((s) => s.trim())) : null
export const RUNBOOK = 'findings.lifecycle.backfill'

/** A tag unique to this bench process: every database and NATS stream it creates carries it. */
export const benchTag = `b${Date.now().toString(36)}${randomBytes(2).toString('hex')}`

/** A shape's tenant count under BENCH_SCALE (at least 2). */
export function scaled(tenants: number): number {
  return Math.max(2, Math.round(tenants * scale))
}

/** BENCH_REPETITIONS when set, else the part's default. */
export function repetitions(defaultCount: number): number {
  const forced = process.env.BENCH_REPETITIONS
  return forced ? Math.max(1, Number(forced)) : defaultCount
}
