/**
 * The all-tenants backfill end to end (the service as a child process on PostgreSQL + NATS, start →
 * completed seen through the API) against its floor: the same repair SQL alone, same concurrency, one
 * transaction per tenant. Each variant runs on its own fresh copy (CREATE DATABASE … TEMPLATE) of one
 * seeded database per shape; floor and end to end take turns going first.
 */
import type { Part } from '../lib/part.js'
import { concurrency, repetitions, scale, scaled, selectedShapes } from '../lib/env.js'
import { connect, createDatabase, dropDatabase, seedTemplate, shapeLabel, type Shape } from '../lib/pg.js'
import { preflightScans, repairTransactions } from '../lib/floor.js'
import { serviceBackfill, type EndToEnd } from '../lib/e2e.js'
import { median } from '../lib/stats.js'
import { benchPostmaster, cpuBetween, formatCpu, sampleCpu, type CpuSpent } from '../lib/cpu.js'
import { cpus } from 'node:os'
import { performance } from 'node:perf_hooks'

interface ShapePlan {
  key: string
  base: Shape
  /** Repetitions by default (fewer for the big shapes: the whole bench has 25 minutes). */
  repetitions: number
}

const PLANS: ShapePlan[] = [
  { key: '200x1000', base: { tenants: 200, findings: 1000 }, repetitions: 3 },
  { key: '1000x1000', base: { tenants: 1000, findings: 1000 }, repetitions: 2 },
  { key: '2000x20', base: { tenants: 2000, findings: 20 }, repetitions: 2 },
  { key: '10000x20', base: { tenants: 10000, findings: 20 }, repetitions: 1 },
]

export interface ShapeFigures {
  floorSeconds: number
  /** The start's required scan alone (`preflightScans`), once, on a fresh copy of the shape's data. */
  scanSeconds: number
  /**
   * The floor with the before-images SPEC §11 requires in each repair's transaction (the rows' snapshot before
   * the repair, the images kept after it), once, on a fresh copy: what any implementation of the spec pays.
   */
  imagedFloorSeconds: number
  e2eSeconds: number
  ratio: number
  startAnswerMs: number
  peakRssMib: number
  repetitions: number
  /** CPU spent by each side in the repetition whose ratio is nearest the median (the lower of two): by process. */
  cpu: { floor: CpuSpent; e2e: CpuSpent }
}

/** Floor against end to end on one shape, `count` repetitions; `keep` may take the last end-to-end database. */
export async function measureShape(
  shape: Shape,
  count: number,
  options: { label: string; keep?: (database: string, run: EndToEnd) => boolean; log?: (line: string) => void } = { label: '' },
): Promise<ShapeFigures | null> {
  const log = options.log ?? ((line: string) => console.log(line))
  const seedStarted = performance.now()
  const template = await seedTemplate(shape)
  log(`  seeded ${shape.tenants} tenants × ${shape.findings} findings in ${((performance.now() - seedStarted) / 1000).toFixed(1)} s`)
  const floors: number[] = []
  const e2es: number[] = []
  const ratios: number[] = []
  const answers: number[] = []
  let peak = 0
  let scanSeconds = 0
  let imagedFloorSeconds = 0
  const cpuSpent: Array<{ floor: CpuSpent; e2e: CpuSpent }> = []
  try {
    // The start's scan alone, once per shape, on a fresh copy of its own: the rows as the run's scan reads them.
    const scanCopy = await createDatabase(`scan_${shapeLabel(shape)}`, template)
    try {
      const sql = connect(scanCopy, concurrency + 4)
      try {
        scanSeconds = (await preflightScans(sql, concurrency)).seconds
      } finally {
        await sql.end({ timeout: 5 })
      }
    } finally {
      await dropDatabase(scanCopy)
    }
    log(`  the start's scan alone (the runbook's preflight over the same tenants, concurrency ${concurrency}): ${scanSeconds.toFixed(2)} s`)
    const imagedCopy = await createDatabase(`imaged_${shapeLabel(shape)}`, template)
    try {
      const sql = connect(imagedCopy, concurrency + 4)
      try {
        imagedFloorSeconds = (await repairTransactions(sql, concurrency, true)).seconds
      } finally {
        await sql.end({ timeout: 5 })
      }
    } finally {
      await dropDatabase(imagedCopy)
    }
    log(`  the floor with before-images (SPEC §11: the rows' snapshot and the images kept in each repair's transaction): ${imagedFloorSeconds.toFixed(2)} s`)
    for (let repetition = 1; repetition <= count; repetition++) {
      let floor: Awaited<ReturnType<typeof repairTransactions>> | null = null
      let floorCpu: CpuSpent | null = null
      let e2e: EndToEnd | null = null
      for (const variant of repetition % 2 === 1 ? ['floor', 'e2e'] : ['e2e', 'floor']) {
        const copy = await createDatabase(`${variant}_${shapeLabel(shape)}`, template)
        let kept = false
        try {
          if (variant === 'floor') {
            const sql = connect(copy, concurrency + 4)
            try {
              const postmaster = await benchPostmaster()
              const before = sampleCpu(postmaster)
              floor = await repairTransactions(sql, concurrency)
              floorCpu = cpuBetween(before, sampleCpu(postmaster))
            } finally {
              await sql.end({ timeout: 5 })
            }
          } else {
            try {
              e2e = await serviceBackfill(copy, `${options.label}_${repetition}`)
            } catch (error) {
              log(`  #${repetition}: end to end FAILED: ${(error as Error).message}`)
              return null
            }
            if (repetition === count && options.keep) kept = options.keep(copy, e2e)
          }
        } finally {
          if (!kept) await dropDatabase(copy)
        }
      }
      if (floor!.updated !== e2e!.updated) log(`  WARNING: updated counts differ (floor ${floor!.updated}, end to end ${e2e!.updated})`)
      if (e2e!.outcome !== 'succeeded') log(`  WARNING: the run's outcome is ${e2e!.outcome}`)
      floors.push(floor!.seconds)
      e2es.push(e2e!.seconds)
      ratios.push(e2e!.seconds / floor!.seconds)
      answers.push(e2e!.startAnswerMs)
      peak = Math.max(peak, e2e!.peakRssMib)
      cpuSpent.push({ floor: floorCpu!, e2e: e2e!.cpu })
      log(
        `  #${repetition}: floor ${floor!.seconds.toFixed(2)} s, end to end ${e2e!.seconds.toFixed(2)} s (${e2e!.outcome}, updated ${e2e!.updated}` +
          `${floor!.updated === e2e!.updated ? ' = floor' : ` ≠ floor ${floor!.updated}`}), ratio ${(e2e!.seconds / floor!.seconds).toFixed(2)}×, ` +
          `${(shape.tenants / e2e!.seconds).toFixed(0)} tenants/s, start answered in ${e2e!.startAnswerMs.toFixed(0)} ms, service peak RSS during the run ${e2e!.peakRssMib.toFixed(0)} MiB ` +
          `(before it, with the login's scrypt: ${e2e!.setupPeakRssMib.toFixed(0)} MiB)`,
      )
      log(`      CPU, floor: ${formatCpu(floorCpu!, cores)}`)
      log(`      CPU, end to end: ${formatCpu(e2e!.cpu, cores)}`)
    }
  } finally {
    await dropDatabase(template)
  }
  return {
    floorSeconds: median(floors),
    scanSeconds,
    imagedFloorSeconds,
    e2eSeconds: median(e2es),
    ratio: median(ratios),
    startAnswerMs: median(answers),
    peakRssMib: peak,
    repetitions: count,
    cpu: cpuSpent[nearestMedian(ratios)]!,
  }
}

const cores = cpus().length

/** The index of the value nearest the median (of two equally near, the lower value's). */
function nearestMedian(values: readonly number[]): number {
  const middle = median([...values])
  return values.reduce((best, value, index) => {
    const distance = Math.abs(value - middle)
    const bestDistance = Math.abs(values[best]! - middle)
    return distance < bestDistance || (distance === bestDistance && value < values[best]!) ? index : best
  }, 0)
}

/**
 * CPU per tenant of each side, by process: "floor 0.9 ms (postgresql 0.6, its client 0.3), end to end 3.1 ms
 * (service 1.2, postgresql 1.8, nats 0.1)". The floor's client is the bench; the end to end's is the service
 * (the bench's polls are left out).
 */
function cpuPerTenant(figures: ShapeFigures, tenants: number): string {
  const perTenant = (seconds: number) => ((seconds * 1000) / tenants).toFixed(2)
  const { floor, e2e } = figures.cpu
  const named = (seconds: Record<string, number>, rename: Record<string, string> = {}) =>
    Object.entries(seconds)
      .filter(([, value]) => value >= 0.005)
      .map(([name, value]) => `${rename[name] ?? name} ${perTenant(value)}`)
      .join(', ')
  const { bench: _polls, ...service } = e2e.seconds
  const e2eTotal = Object.values(service).reduce((sum, value) => sum + value, 0)
  return (
    `CPU per tenant: floor ${perTenant(floor.total)} ms (${named(floor.seconds, { bench: 'its client' })}), ` +
    `end to end ${perTenant(e2eTotal)} ms (${named(service)}; ${(e2eTotal / floor.total).toFixed(2)}× the floor's)`
  )
}

export const backfillPart: Part = {
  name: 'backfill',
  summary: 'all-tenants backfill end to end (service child process, PostgreSQL + NATS) vs the repair SQL alone, four shapes',
  async run(context) {
    const keys: Record<string, number> = {}
    const peaks: number[] = []
    console.log(
      `concurrency ${concurrency} (WORKER_CONCURRENCY of the service and of the floor); each variant on a fresh copy of the shape's seeded data; ` +
        `ratio = median over repetitions of end to end / floor${scale !== 1 ? `; BENCH_SCALE=${scale}: tenant counts scaled` : ''}`,
    )
    for (const plan of PLANS) {
      if (selectedShapes && !selectedShapes.has(plan.key)) continue
      const shape = { tenants: scaled(plan.base.tenants), findings: plan.base.findings }
      const count = repetitions(plan.repetitions)
      console.log(
        `backfill ${shape.tenants} tenants × ${shape.findings} findings: ${count} repetition${count > 1 ? 's' : ''}` +
          (count < 3 && !process.env.BENCH_REPETITIONS ? ' (fewer than 3 to keep the whole bench within its 25 minutes)' : ''),
      )
      const figures = await measureShape(shape, count, {
        label: plan.key,
        keep:
          plan.key === '2000x20'
            ? (database, run) => context.offerCompletedRun({ name: database, runId: run.runId, tenants: shape.tenants, findings: shape.findings })
            : undefined,
      })
      if (!figures) {
        console.log(`  backfill_${plan.key}_ratio: not measured (the run failed)`)
        continue
      }
      console.log(
        `  ${plan.key}: floor ${figures.floorSeconds.toFixed(2)} s, end to end ${figures.e2eSeconds.toFixed(2)} s, ratio ${figures.ratio.toFixed(2)}×, ` +
          `${(figures.e2eSeconds / (figures.floorSeconds + figures.scanSeconds)).toFixed(2)}× the floor plus the start's scan (${figures.scanSeconds.toFixed(2)} s), ` +
          `${(figures.e2eSeconds / (figures.imagedFloorSeconds + figures.scanSeconds)).toFixed(2)}× the floor with before-images (${figures.imagedFloorSeconds.toFixed(2)} s) plus the scan, ` +
          `${(shape.tenants / figures.e2eSeconds).toFixed(0)} tenants/s, start answer ${figures.startAnswerMs.toFixed(0)} ms, ` +
          `service peak RSS ${figures.peakRssMib.toFixed(0)} MiB (median of ${figures.repetitions})`,
      )
      console.log(`    ${cpuPerTenant(figures, shape.tenants)}`)
      keys[`backfill_${plan.key}_ratio`] = Number(figures.ratio.toFixed(3))
      // What the work the spec requires, done this service's way, scores on its own (the repair with SPEC §11's
      // before-images, and the start's scan), and how far the end to end is above it: nothing done above that
      // work can score below the first.
      const specFloor = figures.imagedFloorSeconds + figures.scanSeconds
      keys[`backfill_${plan.key}_spec_floor`] = Number((specFloor / figures.floorSeconds).toFixed(3))
      keys[`backfill_${plan.key}_vs_spec_floor`] = Number((figures.e2eSeconds / specFloor).toFixed(3))
      if (plan.key === '1000x1000') keys.start_answer_ms_1m = Math.round(figures.startAnswerMs)
      if (plan.key === '1000x1000' || plan.key === '10000x20') peaks.push(figures.peakRssMib)
    }
    if (peaks.length > 0) {
      keys.peak_rss_mib = Math.round(Math.max(...peaks))
      console.log(`peak RSS of the service during the run (VmHWM reset after the login), max over the 1000×1000 and 10000×20 runs: ${keys.peak_rss_mib} MiB`)
    }
    return keys
  },
}
