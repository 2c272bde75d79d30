import type { FC } from 'hono/jsx'
import { RUN_TENANT_STATUSES, type RunDetail, type RunTenant } from '../../../projections/queries.js'
import { Badge, badgeWord } from '../badges.js'
import { consolePaths } from '../console-env.js'
import { ErrorAlert, Time } from '../layout.js'
import { formatTenantReference } from '../tenant-reference.js'

/** The status filter of the run page's tenant table: every tenant, or those of one status. */
export type TenantFilter = '' | RunTenant['status']

export interface RunTenantsProps {
  run: RunDetail
  filter: TenantFilter
  tenants: RunTenant[]
  /** Whether this is a later page (offers a way back to the first). */
  isLaterPage: boolean
  nextCursor: string | null
  errors: string[]
}

/** The run page with a tenant filter and page, scrolled to the table. */
export function runTenantsHref(runId: string, filter: TenantFilter, cursor?: string | null): string {
  const query = new URLSearchParams()
  if (filter !== '') query.set('tenants', filter)
  if (cursor) query.set('tenantsCursor', cursor)
  const text = query.toString()
  return `${consolePaths.run(runId)}${text ? `?${text}` : ''}#run-tenants`
}

/**
 * SPEC §9 "Tenants of a run": every targeted tenant with its status, attempts, counts and failure, by
 * tenant id; filtered by status and paged by the read side's cursor. Server-rendered as of page load.
 */
export const RunTenants: FC<RunTenantsProps> = ({ run, filter, tenants, isLaterPage, nextCursor, errors }) => {
  const counts = run.tenantCounts
  const choices: Array<{ value: TenantFilter; label: string; count: number }> = [
    { value: '', label: 'All', count: counts.targeted },
    ...RUN_TENANT_STATUSES.map((status) => ({ value: status, label: status.charAt(0).toUpperCase() + status.slice(1), count: counts[status] })),
  ]
  return (
    <section class="card" id="run-tenants" aria-labelledby="run-tenants-title">
      <h2 id="run-tenants-title">Tenants</h2>
      <ErrorAlert messages={errors} />
      <nav aria-label="Filter tenants by status">
        <ul class="filter-tabs">
          {choices.map((choice) => (
            <li>
              <a href={runTenantsHref(run.id, choice.value)} aria-current={filter === choice.value ? 'true' : undefined}>
                {choice.label} <span class="muted">({choice.count})</span>
              </a>
            </li>
          ))}
        </ul>
      </nav>
      {run.status !== 'completed' ? <p class="hint">As of page load; reload to see tenants processed since.</p> : null}
      {tenants.length === 0 ? (
        <p>{filter === '' ? 'This run targets no tenant.' : `No tenant is ${badgeWord(filter)}.`}</p>
      ) : (
        <div class="table-wrap">
          <table class="stack tenants">
            <caption class="muted">By tenant id{filter === '' ? '' : `, ${badgeWord(filter)} only`}</caption>
            <thead>
              <tr>
                <th scope="col">Tenant</th>
                <th scope="col">Status</th>
                <th scope="col">Attempts</th>
                <th scope="col">Total / updated / skipped</th>
                <th scope="col">Reason code</th>
                <th scope="col">Message</th>
                <th scope="col">Started</th>
                <th scope="col">Completed</th>
              </tr>
            </thead>
            <tbody>
              {tenants.map((tenant) => (
                <tr data-tenant-id={String(tenant.tenantId)}>
                  <td data-label="Tenant">
                    {tenant.tenantName === null ? `#${tenant.tenantId}` : formatTenantReference({ id: tenant.tenantId, name: tenant.tenantName })}
                  </td>
                  <td data-label="Status">
                    <Badge kind="tenant" value={tenant.status} />
                  </td>
                  <td data-label="Attempts">{tenant.attempts}</td>
                  <td data-label="Total / updated / skipped">
                    {tenant.counts ? `${tenant.counts.total} / ${tenant.counts.updated} / ${tenant.counts.skipped}` : '—'}
                  </td>
                  <td data-label="Reason code">{tenant.reasonCode ? <code>{tenant.reasonCode}</code> : '—'}</td>
                  <td data-label="Message">{tenant.message ?? '—'}</td>
                  <td data-label="Started">
                    <Time at={tenant.startedAt} />
                  </td>
                  <td data-label="Completed">
                    <Time at={tenant.completedAt} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <nav class="pagination" aria-label="Tenant pages">
        {isLaterPage ? <a href={runTenantsHref(run.id, filter)}>First tenants</a> : null}
        {nextCursor ? <a href={runTenantsHref(run.id, filter, nextCursor)}>More tenants</a> : null}
      </nav>
    </section>
  )
}
