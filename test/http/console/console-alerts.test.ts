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
})
