import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serviceFlavours, waitUntil, type TestService } from '../support/service.js'
import { runCli } from './run-cli.js'

/**
 * SPEC §10 through `rcp` against a real service (embedded): operators created, logged in as, disabled;
 * logout revoking the token; an approval round with a second operator.
 */

const runbookKey = 'findings.lifecycle.backfill'
const runbookCapability = 'platform.runbooks.findings.lifecycle_backfill'
const reasonArgs = ['--reason-code', 'DATA_REPAIR', '--reason', 'CLI test: four eyes on a backfill']
const RUN_ID = /[0-9A-HJKMNP-TV-Z]{26}/

describe('rcp operators and approvals against a real service (embedded)', () => {
  let api: TestService
  let folder: string
  let asAdmin: Record<string, string>
  let counter = 0

  beforeAll(async () => {
    api = await serviceFlavours()[0]!.start()
    folder = await mkdtemp(join(tmpdir(), 'rcp-operators-test-'))
    asAdmin = { RCP_URL: api.baseUrl, RCP_CONFIG: join(folder, 'admin.json'), RCP_TOKEN: await api.token() }
  })

  afterAll(async () => {
    await api?.close()
    if (folder) await rm(folder, { recursive: true, force: true })
  })

  /** An operator created through `rcp operators create`, and an environment with a credentials file of their own. */
  async function createOperator(capabilities: string[]): Promise<{ email: string; password: string; id: string; env: Record<string, string> }> {
    const n = ++counter
    const email = `cli-op-${n}-${Date.now()}@ops.test`
    const password = `a password for operator ${n}`
    const args = capabilities.flatMap((capability) => ['--capability', capability])
    const created = await runCli(['--json', 'operators', 'create', '--email', email, '--name', `CLI Operator ${n}`, ...args, '--password-stdin'], {
      env: asAdmin,
      stdin: `${password}\n`,
    })
    expect(created.code, created.stderr).toBe(0)
    expect(created.stdout + created.stderr).not.toContain(password)
    const operator = JSON.parse(created.stdout)
    expect(operator).toMatchObject({ email, capabilities, disabled: false, isBreakGlass: false })
    return { email, password, id: operator.id, env: { RCP_URL: api.baseUrl, RCP_CONFIG: join(folder, `op-${n}.json`) } }
  }

  const login = async (op: { email: string; password: string; env: Record<string, string> }) => {
    const result = await runCli(['login', '--email', op.email, '--password-stdin'], { env: op.env, stdin: op.password })
    expect(result.code, result.stderr).toBe(0)
  }

  it('an operator created with rcp logs in; disabled, their next command exits 4 saying so; enabled, they log in again', async () => {
    const op = await createOperator(['platform.ops.view'])
    await login(op)
    const me = await runCli(['me'], { env: op.env })
    expect(me.code, me.stderr).toBe(0)
    expect(me.stdout).toMatch(new RegExp(`^Email\\s+${op.email}$`, 'm'))
    expect(me.stdout).toMatch(/^Capabilities\s+platform.ops.view$/m)

    const listed = await runCli(['operators', 'list'], { env: asAdmin })
    expect(listed.code).toBe(0)
    expect(listed.stdout).toContain(op.email)

    const disabled = await runCli(['operators', 'disable', op.email], { env: asAdmin })
    expect(disabled.code, disabled.stderr).toBe(0)
    expect(disabled.stdout).toContain('disabled: every token and console session of theirs ended')

    const after = await runCli(['runs'], { env: op.env })
    expect(after.code).toBe(4)
    expect(after.stderr).toMatch(/^error: .+/m)
    expect(after.stderr).toMatch(/^hint: the token was refused: it expired, or was revoked \(rcp logout, a password change, or the operator was disabled\)$/m)
    expect(after.stderr).toMatch(/^hint: log in first: rcp login/m)
    const again = await runCli(['login', '--email', op.email, '--password-stdin'], { env: op.env, stdin: op.password })
    expect(again.code).toBe(4)

    const enabled = await runCli(['operators', 'enable', op.id], { env: asAdmin })
    expect(enabled.code, enabled.stderr).toBe(0)
    await login(op)
    expect((await runCli(['runs'], { env: op.env })).code).toBe(0)

    // Nobody disables themselves: 403 → 4, saying why.
    const admin = JSON.parse((await runCli(['--json', 'me'], { env: asAdmin })).stdout)
    const self = await runCli(['operators', 'disable', admin.id], { env: asAdmin })
    expect(self.code).toBe(4)
    expect(self.stderr).toMatch(/^hint: nobody changes their own capabilities or disables themselves/m)

    // An email that exists is 409 → 2.
    const duplicate = await runCli(['operators', 'create', '--email', op.email, '--name', 'Again', '--password-stdin'], { env: asAdmin, stdin: op.password })
    expect(duplicate.code).toBe(2)
  })

  it('logout revokes the token on the service: kept elsewhere, it no longer works', async () => {
    const op = await createOperator(['platform.ops.view'])
    await login(op)
    const token = JSON.parse(await readFile(op.env.RCP_CONFIG!, 'utf8')).token as string
    expect((await runCli(['runs'], { env: { ...op.env, RCP_TOKEN: token } })).code).toBe(0)

    const out = await runCli(['logout'], { env: op.env })
    expect(out.code, out.stderr).toBe(0)
    expect(out.stdout).toContain('Logged out: the token is revoked')
    const reused = await runCli(['runs'], { env: { ...op.env, RCP_TOKEN: token } })
    expect(reused.code).toBe(4)
    expect(reused.stdout + reused.stderr).not.toContain(token)
  })

  it('rcp password changes one\'s own password: the old token and password stop working, the new password logs in', async () => {
    const op = await createOperator(['platform.ops.view'])
    await login(op)
    const wrong = await runCli(['password', '--password-stdin'], { env: op.env, stdin: `not my password at all\nsome new password 1\n` })
    expect(wrong.code).toBe(2)
    const next = 'a brand new password 42'
    const changed = await runCli(['password', '--password-stdin'], { env: op.env, stdin: `${op.password}\n${next}\n` })
    expect(changed.code, changed.stderr).toBe(0)
    expect(changed.stdout + changed.stderr).not.toContain(next)
    expect((await runCli(['me'], { env: op.env })).code).toBe(4)
    await login({ ...op, password: next })
    expect((await runCli(['me'], { env: op.env })).code).toBe(0)
  })

  it('approval round: all_tenants needs approval; the starter cannot approve; a second operator approves and the run completes', async () => {
    const set = await runCli(['approvals', 'set', 'all_tenants'], { env: asAdmin })
    expect(set.code, set.stderr).toBe(0)
    expect(set.stdout).toMatch(/^Approvals: all_tenants: /)
    try {
      const shown = await runCli(['--json', 'approvals'], { env: asAdmin })
      expect(JSON.parse(shown.stdout)).toMatchObject({ required: 'all_tenants' })

      const started = await runCli(['start', runbookKey, '--all-tenants', '--confirm', runbookKey, ...reasonArgs], { env: asAdmin })
      expect(started.code, started.stderr).toBe(0)
      const runId = started.stdout.match(RUN_ID)![0]
      expect(started.stdout).toContain('(awaiting_approval)')
      expect(started.stdout).toContain(`waiting for a second operator to approve: rcp approve ${runId}`)

      await waitUntil(async () => (await runCli(['--json', 'run', runId], { env: asAdmin })).code === 0, `run ${runId} projected`)
      const shownRun = await runCli(['run', runId], { env: asAdmin })
      expect(shownRun.stdout).toMatch(/^Status\s+awaiting_approval$/m)

      const own = await runCli(['approve', runId], { env: asAdmin })
      expect(own.code).toBe(4)
      expect(own.stderr).toMatch(/^hint: the operator who started a run cannot approve or reject it/m)

      const approver = await createOperator(['platform.ops.view', 'platform.runbooks.approve', runbookCapability])
      await login(approver)
      const approved = await runCli(['approve', runId, '--comment', 'checked the preflight'], { env: approver.env })
      expect(approved.code, approved.stderr).toBe(0)
      expect(approved.stdout).toMatch(new RegExp(`^Run ${runId} approved: `, 'm'))

      const again = await runCli(['approve', runId], { env: approver.env })
      expect(again.code).toBe(2)

      await waitUntil(async () => JSON.parse((await runCli(['--json', 'run', runId], { env: asAdmin })).stdout).status === 'completed', `run ${runId} to complete`)
      const done = JSON.parse((await runCli(['--json', 'run', runId], { env: asAdmin })).stdout)
      expect(done.outcome).not.toBe('rejected')
      expect(done.approval).toMatchObject({ required: true, comment: 'checked the preflight' })
      expect(done.approval.approvedBy).toBeTruthy()

      // A second start followed: it waits while awaiting approval; rejected, it ends with exit 1.
      const following = runCli(['start', runbookKey, '--all-tenants', '--confirm', runbookKey, ...reasonArgs, '--follow'], { env: asAdmin })
      let secondId = ''
      await waitUntil(async () => {
        const awaiting = JSON.parse((await runCli(['--json', 'runs', '--status', 'awaiting_approval'], { env: asAdmin })).stdout).items
        secondId = awaiting[0]?.id ?? ''
        return secondId !== ''
      }, 'a second run awaiting approval')
      const rejected = await runCli(['reject', secondId, '--reason-code', 'INCIDENT', '--reason', 'not while the incident is open'], { env: approver.env })
      expect(rejected.code, rejected.stderr).toBe(0)
      expect(rejected.stdout).toContain(`Run ${secondId} rejected: completed rejected, nothing was repaired.`)
      const followed = await following
      expect(followed.code, followed.stderr).toBe(1)
      expect(followed.stdout).toContain(`waiting for a second operator to approve: rcp approve ${secondId}`)
      expect(followed.stdout).toContain(`Run ${secondId} completed: rejected`)
    } finally {
      expect((await runCli(['approvals', 'set', 'none'], { env: asAdmin })).code).toBe(0)
    }
  })
})
