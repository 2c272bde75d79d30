import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { AllowedMethods } from '../../src/http/allowed-methods.js'

/** What a request with a method a path is not served with is told (405 and `Allow`), read off the app's routes. */
describe('AllowedMethods', () => {
  function app() {
    const api = new Hono()
    api.use('*', async (_c, next) => next())
    api.get('/runs', (c) => c.text('list'))
    api.post('/runs', (c) => c.text('start'))
    api.get('/runs/:id', (c) => c.text('run'))
    api.patch('/runs/:id/limits', (c) => c.text('limits'))
    api.on(['POST', 'PUT'], '*', async (_c, next) => next())
    const root = new Hono()
    root.route('/api', api)
    root.all('/system/*', (c) => c.text('catch-all'))
    return root
  }

  it('lists the methods each path is served with, HEAD with GET, in a fixed order', () => {
    const root = app()
    const allowed = new AllowedMethods(() => root.routes)
    expect(allowed.of('/api/runs')).toEqual(['GET', 'HEAD', 'POST'])
    expect(allowed.of('/api/runs/01ABC')).toEqual(['GET', 'HEAD'])
    expect(allowed.of('/api/runs/01ABC/limits')).toEqual(['PATCH'])
  })

  it('names none for a path only middleware or a catch-all covers', () => {
    const root = app()
    const allowed = new AllowedMethods(() => root.routes)
    expect(allowed.of('/api/nothing')).toEqual([])
    expect(allowed.of('/api/runs/01ABC/pause')).toEqual([])
    expect(allowed.of('/system/ops/anything')).toEqual([])
    expect(allowed.of('/')).toEqual([])
  })

  it('knows a route added after its first answer', () => {
    const root = app()
    const allowed = new AllowedMethods(() => root.routes)
    expect(allowed.of('/api/runs/01ABC/pause')).toEqual([])
    root.post('/api/runs/:id/pause', (c) => c.text('paused'))
    expect(allowed.of('/api/runs/01ABC/pause')).toEqual(['POST'])
  })
})
