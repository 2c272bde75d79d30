import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startReceiver, type TestReceiver } from '../../alerts/webhook-receiver.js'
import { serviceFlavours, type TestService } from '../../support/service.js'
import { consoleLogin, consoleRequest, createConsoleOperator, csrfFieldOf, type ConsoleSession } from './console-client.js'

/** The console's Alerts page (SPEC §5/§12): who sees what, and the destination forms (session → CSRF → capability → command). */
const embedded = serviceFlavours().filter((flavour) => flavour.name.startsWith('embedded'))

describe.each(embedded)('console alerts page: $name', (flavour) => {
  let service: TestService
  let receiver: TestReceiver
  let manager: ConsoleSession
  let viewer: ConsoleSession
  const secret = 'console-form-secret-7c2e'

  beforeAll(async () => {
    receiver = await startReceiver(secret)
    service = await flavour.start({ env: { OPS_WEBHOOK_ALLOWED_HOSTS: '127.0.0.1' } })
    manager = await consoleLogin(service, await createConsoleOperator(service, ['platform.ops.view', 'platform.operators.manage']))
    viewer = await consoleLogin(service, await createConsoleOperator(service, ['platform.ops.view']))
  })
  afterAll(async () => {
    await service?.close()
    await receiver?.close()
  })

  const post = (session: ConsoleSession, path: string, form: Record<string, string>) =>
    consoleRequest(service, 'POST', path, { cookies: session.cookies, form: { _csrf: session.csrf, ...form } })

  it('shows the page and its navigation item to platform.ops.view holders; the destinations only to managers', async () => {
    const page = await consoleRequest(service, 'GET', '/system/ops/alerts', { cookies: viewer.cookies })
    expect(page.status).toBe(200)
    expect(page.text).toContain('Alerts raised')
    expect(page.text).toContain('href="/system/ops/alerts"')
    expect(page.text).not.toContain('add-alert-destination')
    const managed = await consoleRequest(service, 'GET', '/system/ops/alerts', { cookies: manager.cookies })
    expect(managed.text).toContain('add-alert-destination')
    expect(managed.text).toContain('data-destination="platform-console"')
    const nobody = await consoleLogin(service, await createConsoleOperator(service, ['platform.runbooks.view']))
    expect((await consoleRequest(service, 'GET', '/system/ops/alerts', { cookies: nobody.cookies })).status).toBe(403)
    expect((await consoleRequest(service, 'GET', '/system/ops/alerts')).status).toBe(303)
  })

  it('adds and removes a webhook from the page; refuses a host not allowed in place (422); never shows the secret', async () => {
    const before = await service.eventCount()
    expect((await post(viewer, '/system/ops/alerts/destinations', { url: receiver.url, secret })).status).toBe(403)
    const noCsrf = await consoleRequest(service, 'POST', '/system/ops/alerts/destinations', { cookies: manager.cookies, form: { url: receiver.url, secret } })
    expect(noCsrf.status).toBe(403)
    const refused = await post(manager, '/system/ops/alerts/destinations', { url: 'http://10.0.0.1/hook', secret })
    expect(refused.status).toBe(422)
    expect(refused.text).toContain('host 10.0.0.1 is not allowed')
    expect(refused.text).toContain('value="http://10.0.0.1/hook"')
    expect(refused.text).not.toContain(secret)
    expect(await service.eventCount()).toBe(before)

    const added = await post(manager, '/system/ops/alerts/destinations', { url: receiver.url, secret })
    expect(added.status, added.text.slice(0, 500)).toBe(303)
    const page = await consoleRequest(service, 'GET', '/system/ops/alerts', { cookies: manager.cookies })
    expect(page.text).toContain(receiver.url)
    expect(page.text).not.toContain(secret)
    const id = /data-destination="([0-9A-Z]{26})"/.exec(page.text)![1]!
    const removed = await post({ ...manager, csrf: csrfFieldOf(page.text) }, `/system/ops/alerts/destinations/${id}/remove`, {})
    expect(removed.status).toBe(303)
    expect((await consoleRequest(service, 'GET', '/system/ops/alerts', { cookies: manager.cookies })).text).not.toContain(`data-destination="${id}"`)
    expect((await post(manager, `/system/ops/alerts/destinations/${id}/remove`, {})).status).toBe(404)
  })

  it('refuses text PostgreSQL cannot store in the URL or the secret (422 in place, as the API), and stores the URL as parsed', async () => {
    const before = await service.eventCount()
    for (const form of [
      { url: `${receiver.url}\u0000x`, secret },
      { url: receiver.url, secret: 'a\u0000b' },
      { url: receiver.url, secret: 'x'.repeat(1025) },
      { url: receiver.url, secret: '' },
    ]) {
      const refused = await post(manager, '/system/ops/alerts/destinations', form)
      expect(refused.status, refused.text.slice(0, 300)).toBe(422)
      const field = form.secret === secret ? 'url' : 'secret'
      expect(refused.text).toMatch(new RegExp(`id="destination-${field}-error"[^>]*>[^<]+<`))
    }
    expect(await service.eventCount()).toBe(before)
    // The API answers the same for the same secret.
    const token = await service.token()
    const api = await service.request('POST', '/api/alert-destinations', { token, json: { kind: 'webhook', url: receiver.url, secret: 'x'.repeat(1025) } })
    expect(api.status).toBe(422)
    expect(api.body.errors).toEqual([{ field: 'secret', message: 'must be at most 1024 characters' }])
    const page = await post(manager, '/system/ops/alerts/destinations', { url: receiver.url, secret: 'x'.repeat(1025) })
    expect(page.text).toContain('must be at most 1024 characters')

    const added = await post(manager, '/system/ops/alerts/destinations', { url: receiver.url.replace('http://', 'HTTP://').replace('/hooks/alerts', '/hooks/./alerts'), secret })
    expect(added.status, added.text.slice(0, 500)).toBe(303)
    const [newest] = await service.sql<Array<{ target: string }>>`select target from alert_destinations order by created_at desc, id desc limit 1`
    expect(newest!.target).toBe(receiver.url)
  })

  it("shows a webhook's full URL only in the destinations list; a delivery shows its scheme and host", async () => {
    const url = `${receiver.url}?token=T0PS3CRET`
    expect((await post(manager, '/system/ops/alerts/destinations', { url, secret })).status).toBe(303)
    const [destination] = await service.sql<Array<{ id: string }>>`select id from alert_destinations where target = ${url}`
    const runId = `RUN-REDACT-${destination!.id}`
    await service.sql`
      insert into alert_deliveries (id, alert_key, run_id, workspace_id, destination_id, payload, status, last_error, created_at)
      select ${`${runId}:${destination!.id}`}, 'operations.run.failed', ${runId}, workspace_id, id, '{}'::jsonb, 'failed', 'HTTP 500', now()
      from alert_destinations where id = ${destination!.id}`
    const viewed = await consoleRequest(service, 'GET', '/system/ops/alerts', { cookies: viewer.cookies })
    const row = viewed.text.slice(viewed.text.indexOf(`data-run="${runId}"`))
    expect(row.slice(0, row.indexOf('</tr>'))).toContain(`http://127.0.0.1:${receiver.port}/…`)
    expect(viewed.text).not.toContain('T0PS3CRET')
    expect(viewed.text).not.toContain('/hooks/alerts')
    const managed = await consoleRequest(service, 'GET', '/system/ops/alerts', { cookies: manager.cookies })
    expect(managed.text).toContain(`<code>${url.replace('&', '&amp;')}</code>`)
  })
})
