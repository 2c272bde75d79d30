import type { FC } from 'hono/jsx'
import type { RunSummary } from '../../../projections/queries.js'
import type { UniverseTenant } from '../../../runbooks/tenant-universe.js'
import { Badge, badgeWord } from '../badges.js'
import { consolePaths } from '../console-env.js'
import { ErrorAlert, Layout, type Viewer } from '../layout.js'
import { formatTenantReference, tenantLabel, tenantNamesOf, type TenantNames } from '../tenant-reference.js'

export interface RunFilters {
  status: string
  outcome: string
  runbook: string
  tenant: string
}

export interface RunsPageProps {
  nonce: string
  viewer: Viewer
  runs: RunSummary[]
  filters: RunFilters
  /** Link to the next (older) page, when there is one. */
  nextPageHref: string | null
  /** Whether this is a later page (offers a way back to the newest runs). */
  isLaterPage: boolean
  statuses: readonly string[]
  outcomes: readonly string[]
  runbooks: Array<{ key: string; label: string }>
  tenants: UniverseTenant[]
  errors: string[]
}

const FilterSelect: FC<{ id: string; name: string; label: string; value: string; options: Array<{ value: string; label: string }> }> = ({
  id,
  name,
  label,
  value,
  options,
}) => (
  <div>
    <label for={id}>{label}</label>
    <select id={id} name={name}>
      <option value="" selected={value === ''}>
        any
      </option>
      {options.map((option) => (
        <option value={option.value} selected={value === option.value}>
          {option.label}
        </option>
      ))}
    </select>
  </div>
)

function scopeText(run: RunSummary, names: TenantNames): string {
  return run.tenantId === null ? 'All tenants' : `Tenant ${tenantLabel(names, run.tenantId)}`
}

export const RunsPage: FC<RunsPageProps> = (props) => {
  const { filters } = props
  const names = tenantNamesOf(props.tenants)
  return (
    <Layout title="Runs" nonce={props.nonce} viewer={props.viewer} current="runs">
      <h1>Runs</h1>
      <ErrorAlert messages={props.errors} />
      <form method="get" action={consolePaths.runs} class="card" aria-label="Filter runs">
        <div class="filters">
          <FilterSelect
            id="filter-status"
            name="status"
            label="Status"
            value={filters.status}
            options={props.statuses.map((s) => ({ value: s, label: badgeWord(s) }))}
          />
          <FilterSelect
            id="filter-outcome"
            name="outcome"
            label="Outcome"
            value={filters.outcome}
            options={props.outcomes.map((o) => ({ value: o, label: badgeWord(o) }))}
          />
          <FilterSelect
            id="filter-runbook"
            name="runbook"
            label="Runbook"
            value={filters.runbook}
            options={props.runbooks.map((r) => ({ value: r.key, label: r.label }))}
          />
          <div>
            <label for="filter-tenant">Tenant</label>
            <input type="text" id="filter-tenant" name="tenant" list="filter-tenants" autocomplete="off" value={filters.tenant} placeholder="name or id" />
            <datalist id="filter-tenants">
              {props.tenants.map((tenant) => (
                <option value={formatTenantReference(tenant)} />
              ))}
            </datalist>
          </div>
        </div>
        <div class="actions">
          <button type="submit">Filter</button>
          <a href={consolePaths.runs}>Clear filters</a>
        </div>
      </form>
      {props.runs.length === 0 ? (
        <p>No runs match.</p>
      ) : (
        <div class="table-wrap">
          <table class="stack">
            <caption class="muted">Newest first</caption>
            <thead>
              <tr>
                <th scope="col">Created</th>
                <th scope="col">Runbook</th>
                <th scope="col">Scope</th>
                <th scope="col">Status</th>
                <th scope="col">Outcome</th>
                <th scope="col">Updated / total</th>
                <th scope="col">Failed tenants</th>
                <th scope="col">Initiator</th>
              </tr>
            </thead>
            <tbody>
              {props.runs.map((run) => (
                <tr>
                  <td data-label="Created">
                    <a href={consolePaths.run(run.id)}>
                      <time datetime={run.createdAt}>{run.createdAt.replace('T', ' ').slice(0, 19)}</time>
                    </a>
                  </td>
                  <td data-label="Runbook">
                    <code>{run.type}</code>
                  </td>
                  <td data-label="Scope">{scopeText(run, names)}</td>
                  <td data-label="Status">
                    <Badge kind="status" value={run.status} />
                  </td>
                  <td data-label="Outcome">
                    <Badge kind="outcome" value={run.outcome} />
                  </td>
                  <td data-label="Updated / total">
                    {run.summaryCounts.updated ?? 0} / {run.summaryCounts.total ?? 0}
                  </td>
                  <td data-label="Failed tenants">{run.summaryCounts.failed ?? 0}</td>
                  <td data-label="Initiator">{run.initiatorName}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <nav class="pagination" aria-label="Pages">
        {props.isLaterPage ? <a href={runsPageHref(filters)}>Newest runs</a> : null}
        {props.nextPageHref ? <a href={props.nextPageHref}>Older runs</a> : null}
      </nav>
    </Layout>
  )
}

export function runsPageHref(filters: RunFilters, cursor?: string): string {
  const query = new URLSearchParams()
  for (const [name, value] of Object.entries(filters)) if (value !== '') query.set(name, value)
  if (cursor) query.set('cursor', cursor)
  const text = query.toString()
  return text ? `${consolePaths.runs}?${text}` : consolePaths.runs
}
