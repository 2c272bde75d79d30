/**
 * `npm run bench [-- --only NAME[,NAME]]`: every part of issue 11's story in one run, each part a module
 * of bench/parts/. The last line of the output is one JSON object of the figures (numbers; a part not run
 * or a figure not measured leaves its keys out). Nothing here asserts a duration: the bench only reports.
 * Settings: bench/lib/env.ts (BENCH_SCALE=0.1 for a smoke run).
 */
import { performance } from 'node:perf_hooks'
import type { BenchContext, Part, RunDatabase } from './lib/part.js'
import { cleanupAll, interrupt, isInterrupted } from './lib/cleanup.js'
import { benchTag, scale, scaled } from './lib/env.js'
import { createDatabase, dropDatabase, seedTemplate } from './lib/pg.js'
import { serviceBackfill } from './lib/e2e.js'
import { backfillPart } from './parts/backfill.js'
import { beforeImagesPart } from './parts/before-images.js'
import { appendsPart } from './parts/appends.js'
import { rebuildPart } from './parts/rebuild.js'
import { apiPart } from './parts/api.js'
import { embeddedPart } from './parts/embedded.js'
import { workersPart } from './parts/workers.js'

const PARTS: Part[] = [backfillPart, beforeImagesPart, appendsPart, rebuildPart, apiPart, embeddedPart, workersPart]

function selectedParts(argv: string[]): Part[] {
  const names: string[] = []
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index]!
    if (argument === '--only') names.push(...(argv[++index] ?? '').split(','))
    else if (argument.startsWith('--only=')) names.push(...argument.slice('--only='.length).split(','))
    else if (argument === '--help' || argument === '-h') {
      console.log(`npm run bench [-- --only NAME[,NAME]]\nparts:\n${PARTS.map((part) => `  ${part.name.padEnd(14)}${part.summary}`).join('\n')}`)
      process.exit(0)
    } else {
      console.error(`unknown argument ${argument}: use --only NAME[,NAME] (parts: ${PARTS.map((part) => part.name).join(', ')})`)
      process.exit(2)
    }
  }
  const wanted = names.map((name) => name.trim()).filter(Boolean)
  if (argv.includes('--only') || argv.some((a) => a.startsWith('--only='))) {
    if (wanted.length === 0) {
      console.error(`--only needs part names: ${PARTS.map((part) => part.name).join(', ')}`)
      process.exit(2)
    }
    const unknown = wanted.filter((name) => !PARTS.some((part) => part.name === name))
    if (unknown.length > 0) {
      console.error(`unknown part${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; the parts are: ${PARTS.map((part) => part.name).join(', ')}`)
      process.exit(2)
    }
    return PARTS.filter((part) => wanted.includes(part.name))
  }
  return PARTS
}

/** The shared 2000-tenant completed run (rebuild, api): handed over by the backfill part or made once here. */
function createContext(): BenchContext & { close(): Promise<void> } {
  let runDatabase: RunDatabase | null = null
  let making: Promise<RunDatabase> | null = null
  return {
    offerCompletedRun(database) {
      if (runDatabase || making) return false
      runDatabase = database
      return true
    },
    completedRun() {
      if (runDatabase) return Promise.resolve(runDatabase)
      making ??= (async () => {
        const shape = { tenants: scaled(2000), findings: 20 }
        console.log(`  (making a database with a completed all-tenants run of ${shape.tenants} tenants × ${shape.findings} findings)`)
        const template = await seedTemplate(shape)
        const name = await createDatabase('run2000', template)
        await dropDatabase(template)
        const run = await serviceBackfill(name, 'shared_run')
        console.log(`  (that run: ${run.seconds.toFixed(1)} s, ${run.outcome})`)
        runDatabase = { name, runId: run.runId, tenants: shape.tenants, findings: shape.findings }
        return runDatabase
      })()
      return making
    },
    async close() {
      if (runDatabase) await dropDatabase(runDatabase.name)
    },
  }
}

async function main(): Promise<number> {
  const parts = selectedParts(process.argv.slice(2))
  const started = performance.now()
  const context = createContext()
  const figures: Record<string, number> = {}
  const failed: string[] = []
  console.log(
    `bench ${benchTag}: ${parts.map((part) => part.name).join(', ')} — node ${process.version}, ${(await import('node:os')).cpus().length} cores` +
      (scale !== 1 ? `, BENCH_SCALE=${scale} (tenant counts scaled: not comparable with a full run)` : ''),
  )
  try {
    for (const part of parts) {
      if (isInterrupted()) break
      const partStarted = performance.now()
      console.log(`\n== ${part.name}: ${part.summary}`)
      try {
        Object.assign(figures, await part.run(context))
      } catch (error) {
        failed.push(part.name)
        console.log(`== ${part.name} FAILED: ${(error as Error).stack ?? error}`)
      }
      console.log(`== ${part.name}: ${((performance.now() - partStarted) / 1000).toFixed(1)} s`)
    }
  } finally {
    await context.close()
    await cleanupAll()
  }
  const total = (performance.now() - started) / 1000
  console.log(`\ntotal ${Math.floor(total / 60)} min ${(total % 60).toFixed(0)} s${failed.length ? `; parts failed: ${failed.join(', ')}` : ''}`)
  console.log(JSON.stringify(figures))
  return failed.length > 0 ? 1 : 0
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (isInterrupted()) return
    console.error(`\n${signal}: cleaning up (databases, NATS streams, child processes, temp dirs)…`)
    interrupt().finally(() => process.exit(130))
  })
}

main().then(
  // Interrupted: the signal handler exits once everything is cleaned up.
  (code) => (isInterrupted() ? interrupt().finally(() => process.exit(130)) : process.exit(code)),
  async (error) => {
    console.error(error)
    await cleanupAll()
    process.exit(1)
  },
)
