import type { FC } from 'hono/jsx'
import type { AuditChainVerification } from '../../../projections/audit-chain.js'
import type { AuditEntry } from '../../../projections/queries.js'
import { consolePaths } from '../console-env.js'
import { ErrorAlert, Layout, Time, type Viewer } from '../layout.js'

export interface AuditFilters {
  action: string
  /** An operator's id or email. */
  operator: string
  runId: string
}

export interface AuditPageProps {
  nonce: string
  viewer: Viewer
  entries: AuditEntry[]
  chain: AuditChainVerification
  filters: AuditFilters
  /** The stable action ids (SPEC §5), offered by the action filter. */
  actions: readonly string[]
  nextPageHref: string | null
  isLaterPage: boolean
  errors: string[]
}

/** Hashes are 64 hex digits: the page shows the first 12, the whole one on hover and to screen readers. */
export const SHORT_HASH_LENGTH = 12

export function shortHash(hash: string | null): string {
  return hash ? `${hash.slice(0, SHORT_HASH_LENGTH)}…` : '—'
}

const Hash: FC<{ hash: string | null }> = ({ hash }) => (hash ? <code title={hash} aria-label={`hash ${hash}`}>{shortHash(hash)}</code> : <span>—</span>)

/** SPEC §12: the chain's state from `verifyAuditChain`, broken prominently. */
const ChainState: FC<{ chain: AuditChainVerification }> = ({ chain }) =>
  chain.ok ? (
    <section class="alert info" id="audit-chain" aria-labelledby="audit-chain-title" data-chain="verified">
      <p>
        <strong id="audit-chain-title">Chain verified:</strong> {chain.entries} {chain.entries === 1 ? 'entry' : 'entries'}, head{' '}
        <Hash hash={chain.headHash} />
      </p>
    </section>
  ) : (
    <section class="alert error" role="alert" id="audit-chain" aria-labelledby="audit-chain-title" data-chain="broken">
      <p>
        <strong id="audit-chain-title">Chain BROKEN at entry #{chain.firstBrokenSequence}</strong>
      </p>
      <p>
        {chain.problem ? `${chain.problem.replace(/\.$/, '')}. ` : ''}The audit log was changed outside the service: entries from #{chain.firstBrokenSequence} on cannot be trusted. ({chain.entries}{' '}
        entries, head <Hash hash={chain.headHash} />)
      </p>
    </section>
  )

/** An action id that may wrap at its dots on a narrow screen (no CSS needed: `<wbr>` before each dot). */
const ActionId: FC<{ action: string }> = ({ action }) => (
  <code>
    {action.split('.').map((part, index) =>
      index === 0 ? (
        part
      ) : (
        <>
          <wbr />.{part}
        </>
      ),
    )}
  </code>
)

function actorText(entry: AuditEntry): string {
  if (entry.actorEmail) return entry.actorEmail
  return entry.actorUserId ?? 'the service'
}

/**
 * What an auditor reads first in an entry's context beside the actor (SPEC §10, §9): whom an operator change
 * was about, and the reason or comment given. The whole context stays `GET /api/audit`'s.
 */
function detailsOf(context: Record<string, unknown>): string[] {
  const text = (key: string) => (typeof context[key] === 'string' && context[key] !== '' ? (context[key] as string) : null)
  const details: string[] = []
  const subject = text('subject_email') ?? text('subject_operator_id')
  if (subject) details.push(`subject: ${subject}`)
  const reason = [text('reason_code'), text('reason_text')].filter((part) => part !== null).join(' ')
  if (reason) details.push(`reason: ${reason}`)
  const comment = text('comment')
  if (comment) details.push(`comment: ${comment}`)
  return details
}

function detailLines(context: Record<string, unknown>) {
  const details = detailsOf(context)
  return details.length === 0 ? '—' : details.map((line) => <div>{line}</div>)
}

export const AuditPage: FC<AuditPageProps> = (props) => {
  const { filters } = props
  return (
    <Layout title="Audit log" nonce={props.nonce} viewer={props.viewer} current="audit">
      <h1>Audit log</h1>
      <ChainState chain={props.chain} />
      <ErrorAlert messages={props.errors} />
      <form method="get" action={consolePaths.audit} class="card" aria-label="Filter audit entries">
        <div class="filters">
          <div>
            <label for="filter-action">Action</label>
            <select id="filter-action" name="action">
              <option value="" selected={filters.action === ''}>
                any
              </option>
              {props.actions.map((action) => (
                <option value={action} selected={filters.action === action}>
                  {action}
                </option>
              ))}
            </select>
          </div>
          <div>
            <label for="filter-operator">Operator</label>
            <input type="text" id="filter-operator" name="operator" value={filters.operator} placeholder="email or id" autocomplete="off" />
          </div>
          <div>
            <label for="filter-run">Run</label>
            <input type="text" id="filter-run" name="runId" value={filters.runId} placeholder="run id" autocomplete="off" />
          </div>
        </div>
        <div class="actions">
          <button type="submit">Filter</button>
          <a href={consolePaths.audit}>Clear filters</a>
        </div>
      </form>
      {props.entries.length === 0 ? (
        <p>No audit entries match.</p>
      ) : (
        <div class="table-wrap">
          <table class="stack" id="audit-entries">
            <caption class="muted">Newest first</caption>
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col">Time</th>
                <th scope="col">Action</th>
                <th scope="col">Actor</th>
                <th scope="col">Run</th>
                <th scope="col">Details</th>
                <th scope="col">Hash</th>
              </tr>
            </thead>
            <tbody>
              {props.entries.map((entry) => (
                <tr data-sequence={String(entry.sequence)}>
                  <td data-label="#">{entry.sequence}</td>
                  <td data-label="Time">
                    <Time at={entry.occurredAt} />
                  </td>
                  <td data-label="Action">
                    <ActionId action={entry.action} />
                  </td>
                  <td data-label="Actor">{actorText(entry)}</td>
                  <td data-label="Run">{entry.operationRunId ? <a href={consolePaths.run(entry.operationRunId)}>{entry.operationRunId}</a> : '—'}</td>
                  <td data-label="Details">{detailLines(entry.context)}</td>
                  <td data-label="Hash">
                    <Hash hash={entry.hash} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <nav class="pagination" aria-label="Pages">
        {props.isLaterPage ? <a href={auditPageHref(filters)}>Newest entries</a> : null}
        {props.nextPageHref ? <a href={props.nextPageHref}>Older entries</a> : null}
      </nav>
    </Layout>
  )
}

export function auditPageHref(filters: AuditFilters, cursor?: string): string {
  const query = new URLSearchParams()
  for (const [name, value] of Object.entries(filters)) if (value !== '') query.set(name, value)
  if (cursor) query.set('cursor', cursor)
  const text = query.toString()
  return text ? `${consolePaths.audit}?${text}` : consolePaths.audit
}
