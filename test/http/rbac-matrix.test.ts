import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serviceFlavours, type TestService } from '../support/service.js'
import { runbookKey, runsPath } from './problem-assertions.js'

/**
 * The RBAC matrix of the API: every authenticated route of the OpenAPI document, against every subset of
 * the capabilities it needs (those the document names, plus the runbook's own where the route acts on a
 * runbook or a run). Any missing capability is 403, whatever the body (capabilities are checked before it is
 * read); with all of them the route is no longer refused for capabilities. Requests carry a malformed body
 * where the route reads one, so that a request that gets through changes nothing.
 */

const runbookCapability = 'platform.runbooks.findings.lifecycle_backfill'
const actsOnRunbook = /\/runbooks\/\{key\}\/|\/runs\/\{id\}\/(pause|resume|cancel|limits|retry|revert|approve|reject)$/

function subsets<T>(items: T[]): T[][] {
  return items.reduce<T[][]>((all, item) => [...all, ...all.map((subset) => [...subset, item])], [[]])
}

describe.each(serviceFlavours().slice(0, 1))('RBAC matrix of the API: $name', (flavour) => {
  let api: TestService
  let runId: string
  let operatorId: string

  beforeAll(async () => {
    api = await flavour.start()
    const admin = await api.token()
    const started = await api.request('POST', runsPath, {
      token: admin,
      json: { scope: 'all_tenants', confirmation: runbookKey, reason: { code: 'DATA_REPAIR', text: 'a run for the rbac matrix' } },
    })
    runId = started.body.runId
    operatorId = (await api.request('GET', '/api/me', { token: admin })).body.id
  })

  afterAll(async () => {
    await api?.close()
  })

  it('refuses every route to every operator lacking one of its capabilities, and only to them', async () => {
    const document = (await api.request('GET', '/api/openapi.json')).body
    const tokens = new Map<string, string>()
    const tokenFor = async (capabilities: string[]) => {
      const key = [...capabilities].sort().join(',')
      if (!tokens.has(key)) tokens.set(key, await api.operatorToken(capabilities))
      return tokens.get(key)!
    }
    let checked = 0
    for (const [path, operations] of Object.entries<any>(document.paths)) {
      for (const [method, operation] of Object.entries<any>(operations)) {
        if (!operation.security) continue
        const needed: string[] = [...operation['x-required-capabilities'], ...(actsOnRunbook.test(path) ? [runbookCapability] : [])]
        const url = path
          .replace('{key}', runbookKey)
          .replace('{id}', path.startsWith('/api/operators') ? operatorId : runId)
        const readsBody = operation.requestBody !== undefined
        for (const held of subsets(needed)) {
          // A token revoked by the route itself is not reused.
          const token = path === '/api/auth/tokens/current' ? await api.operatorToken(held) : await tokenFor(held)
          const response = await api.request(method.toUpperCase(), url, { token, ...(readsBody ? { body: '{' } : {}) })
          const what = `${method.toUpperCase()} ${path} with [${held.join(', ')}]: ${response.status} ${response.text.slice(0, 200)}`
          if (held.length < needed.length) expect(response.status, what).toBe(403)
          else expect([401, 403], what).not.toContain(response.status)
          checked++
        }
      }
    }
    expect(checked).toBeGreaterThan(40)
  })
})
