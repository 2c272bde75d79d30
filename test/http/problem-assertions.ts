import { expect } from 'vitest'
import type { ApiResponse } from '../support/service.js'

export const runbookKey = 'findings.lifecycle.backfill'
export const preflightPath = `/api/runbooks/${runbookKey}/preflight`
export const runsPath = `/api/runbooks/${runbookKey}/runs`
export const validReason = { code: 'DATA_REPAIR', text: 'normalise legacy finding lifecycles' }

/**
 * An RFC 9457 answer: the status, the problem+json content type, a non-empty `detail` and, when
 * `field` is given, an `errors` entry naming that field.
 */
export function expectProblem(response: ApiResponse, status: number, field?: string): void {
  const context = `${response.status} ${response.text.slice(0, 500)}`
  expect(response.status, context).toBe(status)
  expect(response.headers.get('content-type'), context).toMatch(/^application\/problem\+json/)
  expect(response.body, context).toMatchObject({ status, detail: expect.any(String) })
  expect((response.body.detail as string).length, context).toBeGreaterThan(0)
  if (field !== undefined) {
    expect(Array.isArray(response.body.errors), context).toBe(true)
    const fields = (response.body.errors as Array<{ field: string; message: string }>).map((e) => e.field)
    expect(fields, context).toContain(field)
  }
}
