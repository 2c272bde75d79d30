import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'
import { adapterOutageCodeOf, recogniseOutages } from '../src/dependency-outages.js'

const SRC = join(import.meta.dirname, '..', 'src')

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return sourceFiles(path)
    return /\.tsx?$/.test(entry.name) ? [path] : []
  })
}

/** Static imports (`import … from '…'` and `export … from '…'`, types excluded) of a module's text. */
function staticImports(text: string): string[] {
  return [...text.matchAll(/^(?:import|export)\s+(?!type\b)[^'";]*?from\s+'([^']+)'/gm), ...text.matchAll(/^import\s+'([^']+)'/gm)].map((m) => m[1]!)
}

describe('the dependency clients are loaded only by their adapters', () => {
  // The embedded default runs without NATS and EventStoreDB: loading their clients anyway cost it ~35 MiB
  // of RSS (issue 11's embedded RSS goal). Only the adapters import them, and the composition loads the
  // adapters with import() when configured.
  const adapters: Record<string, string> = {
    nats: 'queue/nats-job-queue.ts',
    '@eventstore/db-client': 'store/eventstoredb-event-store.ts',
  }

  it('no other module of src imports a client or an adapter statically', () => {
    const offenders: string[] = []
    for (const file of sourceFiles(SRC)) {
      const path = relative(SRC, file)
      for (const specifier of staticImports(readFileSync(file, 'utf8'))) {
        for (const [client, adapter] of Object.entries(adapters)) {
          const adapterModule = adapter.replace(/\.ts$/, '.js')
          const importsClient = specifier === client
          const importsAdapter = specifier.endsWith(adapterModule.split('/').pop()!) && specifier.includes(adapterModule.split('/')[0]!)
          if ((importsClient || importsAdapter) && path !== adapter) offenders.push(`${path} imports ${specifier}`)
        }
      }
    }
    expect(offenders).toEqual([])
  })

  it('finds the static imports it looks for (the scan itself)', () => {
    expect(staticImports(`import { connect } from 'nats'\nimport type { X } from '@eventstore/db-client'\nexport { a } from './b.js'\nimport './side.js'`)).toEqual([
      'nats',
      './b.js',
      './side.js',
    ])
  })

  it('asks every recogniser an adapter registered, and answers null when none knows the error', () => {
    class QueueDown extends Error {}
    expect(adapterOutageCodeOf(new QueueDown())).toBeNull()
    recogniseOutages((error) => (error instanceof QueueDown ? 'QUEUE down' : null))
    expect(adapterOutageCodeOf(new QueueDown())).toBe('QUEUE down')
    expect(adapterOutageCodeOf(new Error('other'))).toBeNull()
  })
})
