import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serviceFlavours, type TestService } from '../support/service.js'
import { parseScrape } from './scrape.js'

const dashboard = JSON.parse(readFileSync(join(process.cwd(), 'docs', 'grafana-dashboard.json'), 'utf8'))

interface Panel {
  id: number
  type: string
  title: string
  datasource: { type: string; uid: string }
  gridPos: { x: number; y: number; w: number; h: number }
  targets: Array<{ expr: string; refId: string; datasource: { type: string; uid: string } }>
}
const panels: Panel[] = dashboard.panels

/** The series names an expression reads (this service's are all `ops_…`). */
function metricNamesOf(expr: string): string[] {
  return [...expr.matchAll(/\bops_[a-z0-9_]+\b/g)].map((match) => match[0])
}

/** Parentheses and brackets close in order: the least a PromQL expression must do. */
function balanced(expr: string): boolean {
  const open: string[] = []
  for (const char of expr) {
    if (char === '(' || char === '[' || char === '{') open.push(char)
    else if (char === ')' || char === ']' || char === '}') {
      if (open.pop() !== { ')': '(', ']': '[', '}': '{' }[char]) return false
    }
  }
  return open.length === 0
}

describe('docs/grafana-dashboard.json', () => {
  it('is a Grafana dashboard model whose panels read Prometheus through a datasource variable', () => {
    expect(dashboard).toMatchObject({ title: expect.any(String), uid: expect.any(String), schemaVersion: expect.any(Number) })
    const variable = dashboard.templating.list.find((v: { type: string }) => v.type === 'datasource')
    expect(variable).toMatchObject({ name: 'datasource', query: 'prometheus' })
    expect(panels.length).toBeGreaterThan(5)
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length)
    for (const panel of panels) {
      expect(panel.datasource, panel.title).toEqual({ type: 'prometheus', uid: '${datasource}' })
      expect(panel.gridPos.w, panel.title).toBeGreaterThan(0)
      expect(panel.gridPos.x + panel.gridPos.w, panel.title).toBeLessThanOrEqual(24)
      expect(panel.targets.length, panel.title).toBeGreaterThan(0)
      for (const target of panel.targets) {
        expect(target.datasource, panel.title).toEqual(panel.datasource)
        expect(balanced(target.expr), target.expr).toBe(true)
        expect(metricNamesOf(target.expr).length, target.expr).toBeGreaterThan(0)
      }
    }
  })

  describe('against a scrape of the service', () => {
    let api: TestService
    let families: ReturnType<typeof parseScrape>

    beforeAll(async () => {
      api = await serviceFlavours()[0]!.start()
      const response = await fetch(`${api.baseUrl}/metrics`)
      expect(response.status).toBe(200)
      families = parseScrape(await response.text())
    })

    afterAll(async () => {
      await api?.close()
    })

    it('reads only metric names the service serves (a histogram through its _bucket, _sum and _count series)', () => {
      for (const panel of panels) {
        for (const target of panel.targets) {
          for (const name of metricNamesOf(target.expr)) {
            const histogram = /^(.*)_(bucket|sum|count)$/.exec(name)
            const family = families.get(name) ?? (histogram ? families.get(histogram[1]!) : undefined)
            expect(family, `${panel.title}: ${name} is not served`).toBeDefined()
            if (!families.has(name)) expect(family!.type, name).toBe('HISTOGRAM')
          }
        }
      }
    })

    it("shows every family of the service's own (all but Node's process figures)", () => {
      const read = new Set(panels.flatMap((panel) => panel.targets.flatMap((target) => metricNamesOf(target.expr))).map((name) => name.replace(/_(bucket|sum|count)$/, '')))
      const own = [...families.keys()].filter((name) => name.startsWith('ops_') && !/^ops_(process|nodejs)_/.test(name))
      expect(own.length).toBeGreaterThan(8)
      expect(own.filter((name) => !read.has(name))).toEqual([])
    })
  })
})
