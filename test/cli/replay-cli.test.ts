import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { exitCodes } from '../../src/cli/exit-codes.js'
import { formatRunDetail } from '../../src/cli/format.js'
import { decodeEvent } from '../../src/events/index.js'
import { runResourceAt } from '../../src/projections/replayed-run.js'
import { runbookKey, runsPath, validReason } from '../http/problem-assertions.js'
import { runIsSettled, serviceFlavours, waitUntil, type TestService } from '../support/service.js'
import { runCli } from './run-cli.js'

/** SPEC §12 through the CLI against a real service (embedded): `rcp events export` and `rcp run RUN --at N`. */
describe('rcp events export and rcp run --at against a real service (embedded)', () => {
  let api: TestService
  let folder: string
  let env: Record<string, string>
  let runId: string

  beforeAll(async () => {
    api = await serviceFlavours()[0]!.start()
    folder = await mkdtemp(join(tmpdir(), 'rcp-replay-test-'))
    const token = await api.token()
    env = { RCP_URL: api.baseUrl, RCP_CONFIG: join(folder, 'admin.json'), RCP_TOKEN: token }
    const started = await api.request('POST', runsPath, { token, json: { scope: 'all_tenants', confirmation: runbookKey, reason: validReason, canary: { count: 1 } } })
    expect(started.status, started.text).toBe(202)
    runId = started.body.runId
    await waitUntil(async () => (await api.request('GET', `/api/runs/${runId}`, { token })).body.status === 'paused', 'the canary pause')
    await api.request('POST', `/api/runs/${runId}/resume`, { token, json: {} })
    await waitUntil(async () => runIsSettled((await api.request('GET', `/api/runs/${runId}`, { token })).body), 'the run settled', 120_000)
  }, 180_000)

  afterAll(async () => {
    await api?.close()
    if (folder) await rm(folder, { recursive: true, force: true })
  })

  /** `rcp events export > file`, then the file's lines. */
  async function exportToFile(args: string[] = []): Promise<any[]> {
    const result = await runCli(['events', 'export', ...args], { env })
    expect(result.code, result.stderr).toBe(exitCodes.ok)
    const file = join(folder, `export-${Date.now()}.ndjson`)
    await writeFile(file, result.stdout)
    const text = await readFile(file, 'utf8')
    expect(text.endsWith('\n')).toBe(true)
    return text.trimEnd().split('\n').map((line) => JSON.parse(line))
  }

  it('exports every event as NDJSON; the run folded from the file is the run the API shows', async () => {
    const lines = await exportToFile()
    expect(lines.length).toBeGreaterThanOrEqual(await api.eventCount() - 5)
    const runLines = lines.filter((line) => line.streamName === `run-${runId}`)
    expect(runLines.map((line) => line.revision)).toEqual(runLines.map((_, index) => index))
    // Each line is validated as the service validates what it reads, then folded with the command side's evolve.
    const folded = runResourceAt(runLines.map((line) => ({ ...decodeEvent(line.type, line.version, line.data, line.metadata), recordedAt: new Date(line.recordedAt) })))
    const shown = await runCli(['--json', 'run', runId], { env })
    expect(folded).toEqual(JSON.parse(shown.stdout))
    expect(folded).toMatchObject({ id: runId, status: 'completed' })
    // Every revision of the file is the API's state at that revision.
    for (let n = 1; n <= runLines.length; n++) {
      const at = await runCli(['--json', 'run', runId, '--at', String(n)], { env })
      expect(at.code, at.stderr).toBe(exitCodes.ok)
      expect(JSON.parse(at.stdout), `--at ${n}`).toEqual(runResourceAt(runLines.slice(0, n).map((line) => decodeEvent(line.type, line.version, line.data, line.metadata))))
    }
  })

  it('--after starts after the given event', async () => {
    const lines = await exportToFile()
    const rest = await exportToFile(['--after', lines[4].position])
    expect(rest.slice(0, lines.length - 5)).toEqual(lines.slice(5))
    const refused = await runCli(['events', 'export', '--after', 'yesterday'], { env })
    expect(refused.code).toBe(exitCodes.usage)
    expect(refused.stderr).toContain('--after')
    expect(refused.stdout).toBe('')
  })

  it('rcp run RUN --at N prints the run as rcp run does, as it stood then', async () => {
    const first = await runCli(['run', runId, '--at', '1'], { env })
    expect(first.code, first.stderr).toBe(exitCodes.ok)
    const state = (await api.request('GET', `/api/runs/${runId}/state?revision=1`, { token: env.RCP_TOKEN })).body
    expect(state.status).toBe('queued')
    const names = new Map<number, string>((await api.request('GET', '/api/tenants?limit=1000', { token: env.RCP_TOKEN })).body.items.map((t: any) => [t.id, t.name]))
    expect(first.stdout).toBe(`${formatRunDetail(state, names)}\n`)
    const now = await runCli(['run', runId], { env })
    expect(now.stdout).not.toBe(first.stdout)
  })

  it('--at beyond the last event says how many there are (exit 2); --at 0 is a usage error', async () => {
    const events = (await api.request('GET', `/api/runs/${runId}/events`, { token: env.RCP_TOKEN })).body.items
    const beyond = await runCli(['run', runId, '--at', String(events.length + 1)], { env })
    expect(beyond.code).toBe(exitCodes.usage)
    expect(beyond.stderr).toContain(`has ${events.length} events`)
    // With --json, the API's problem document on stdout, as for every refusal.
    const beyondJson = await runCli(['--json', 'run', runId, '--at', String(events.length + 1)], { env })
    expect(beyondJson.code).toBe(exitCodes.usage)
    expect(JSON.parse(beyondJson.stdout)).toMatchObject({ status: 404, revisions: events.length })
    const zero = await runCli(['run', runId, '--at', '0'], { env })
    expect(zero.code).toBe(exitCodes.usage)
  })

  it('exits 4 without platform.ops.view, printing nothing on stdout', async () => {
    const token = await api.operatorToken(['platform.runbooks.view'])
    const result = await runCli(['events', 'export'], { env: { ...env, RCP_TOKEN: token } })
    expect(result.code).toBe(exitCodes.access)
    expect(result.stdout).toBe('')
  })
})

describe('rcp events export: writing', () => {
  it('waits for a full stdout to drain rather than buffering the export', async () => {
    const { PassThrough } = await import('node:stream')
    const { exportEvents } = await import('../../src/cli/commands/event-commands.js')
    const chunk = new Uint8Array(64 * 1024).fill(0x61)
    let pulled = 0
    const body = (async function* () {
      for (let i = 0; i < 20; i++) {
        pulled++
        yield chunk
      }
    })()
    const stdout = new PassThrough({ highWaterMark: 64 * 1024 })
    const context = { client: { baseUrl: 'http://x', exportEvents: async () => body }, io: { stdout } } as any
    const exporting = exportEvents(context, {})
    await new Promise((resolve) => setImmediate(resolve))
    // Nobody reads stdout: the export stops pulling once stdout is full.
    expect(pulled).toBeLessThan(4)
    let read = 0
    stdout.on('data', (data: Buffer) => (read += data.length))
    expect(await exporting).toBe(exitCodes.ok)
    expect(pulled).toBe(20)
    await new Promise((resolve) => setImmediate(resolve))
    expect(read).toBe(20 * chunk.length)
  })
})
