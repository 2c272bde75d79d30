import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'
import { adapterOutageCodeOf, recogniseOutages } from '../src/dependency-outages.js'

const SRC = join(import.meta.dirname, '..', 'src')

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return sourceFiles(path)
    return /\.(?:[cm]?[jt]s|tsx)$/.test(entry.name) ? [path] : []
  })
}

/** Static imports (`import … from '…'` and `export … from '…'`, types excluded) of a module's text. */
function staticImports(text: string): string[] {
  return [
    ...text.matchAll(/^\s*(?:import|export)\s+(?!type\b)[^'";]*?from\s+['"]([^'"]+)['"]/gm),
    ...text.matchAll(/^\s*import\s+['"]([^'"]+)['"]/gm),
  ].map((m) => m[1]!)
}

/** Every `import('…')` and `require('…')` of a module's text, wherever it is. */
function loadedLater(text: string): string[] {
  return [...text.matchAll(/\b(?:import|require)\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1]!)
}

describe('the dependency clients are loaded only by their adapters', () => {
  // The embedded default runs without NATS and EventStoreDB: loading their clients anyway cost it ~35 MiB
  // of RSS (issue 11's embedded RSS goal). Only the adapters import them, and the composition loads the
  // adapters with import() when configured.
  const adapters: Record<string, string> = {
    nats: 'queue/nats-job-queue.ts',
    '@eventstore/db-client': 'store/eventstoredb-event-store.ts',
  }

  it('no other module of src imports a client at all, or an adapter statically', () => {
    const offenders: string[] = []
    for (const file of sourceFiles(SRC)) {
      const path = relative(SRC, file)
      const text = readFileSync(file, 'utf8')
      for (const [client, adapter] of Object.entries(adapters)) {
        if (path === adapter) continue
        const isClient = (specifier: string) => specifier === client || specifier.startsWith(`${client}/`)
        const adapterModule = adapter.replace(/\.ts$/, '.js')
        const isAdapter = (specifier: string) => specifier.endsWith(`/${adapterModule}`) || specifier.endsWith(`/${adapterModule.split('/').pop()!}`)
        for (const specifier of staticImports(text)) if (isClient(specifier) || isAdapter(specifier)) offenders.push(`${path} imports ${specifier}`)
        for (const specifier of loadedLater(text)) if (isClient(specifier)) offenders.push(`${path} loads ${specifier}`)
      }
    }
    expect(offenders).toEqual([])
  })

  it('finds the imports it looks for (the scan itself)', () => {
    const text = [
      `import { connect } from 'nats'`,
      `import type { X } from '@eventstore/db-client'`,
      `export { a } from "./b.js"`,
      `  import { c } from './indented.js'`,
      `import './side.js'`,
      `const late = await import("nats/lib/x")`,
      `const required = require('@eventstore/db-client')`,
    ].join('\n')
    expect(staticImports(text)).toEqual(['nats', './b.js', './indented.js', './side.js'])
    expect(loadedLater(text)).toEqual(['nats/lib/x', '@eventstore/db-client'])
  })

  it('asks every recogniser an adapter registered, and answers null when none knows the error', () => {
    class QueueDown extends Error {}
    expect(adapterOutageCodeOf(new QueueDown())).toBeNull()
    recogniseOutages((error) => (error instanceof QueueDown ? 'QUEUE down' : null))
    expect(adapterOutageCodeOf(new QueueDown())).toBe('QUEUE down')
    expect(adapterOutageCodeOf(new Error('other'))).toBeNull()
  })
})
