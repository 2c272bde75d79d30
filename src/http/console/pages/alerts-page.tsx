import type { FC } from 'hono/jsx'
import type { AlertDeliveryView, RaisedAlertView, ReceivedAlertView } from '../../../alerts/alert-queries.js'
import type { AlertDestinationView } from '../../../commands/alert-destinations.js'
import type { FieldProblem } from '../../../commands/errors.js'
import { consolePaths } from '../console-env.js'
import { CSRF_FIELD } from '../csrf.js'
import { messagesBesides, messagesForFields } from '../field-problems.js'
import { ErrorAlert, Layout, Time, type Viewer } from '../layout.js'

/** What a refused add or removal left to show (the secret never comes back). */
export interface AlertDestinationAttempt {
  form: 'add' | { remove: string }
  url: string
  problems: FieldProblem[]
  message?: string
}

export interface AlertsPageProps {
  nonce: string
  viewer: Viewer
  alerts: RaisedAlertView[]
  received: ReceivedAlertView[]
  /** Null: the viewer may not manage destinations (not rendered). */
  destinations: AlertDestinationView[] | null
  attempt: AlertDestinationAttempt | null
}

const deliveryTones: Record<AlertDeliveryView['status'], string> = { recorded: 'info', delivered: 'ok', failed: 'danger' }

const DeliveryStatus: FC<{ delivery: AlertDeliveryView }> = ({ delivery }) => (
  <span class={`badge ${deliveryTones[delivery.status]}`} data-delivery-status={delivery.status}>
    {delivery.status}
  </span>
)

/**
 * A delivery's destination: its full URL only for who sees the destinations list (`fullUrls`, the holders
 * of platform.operators.manage); otherwise the redacted one the delivery carries (scheme and host).
 */
function destinationLabel(destination: AlertDeliveryView['destination'], fullUrls: ReadonlyMap<string, string>): string {
  return destination.kind === 'console' ? 'console inbox' : (fullUrls.get(destination.id) ?? destination.url ?? destination.id)
}

/**
 * SPEC §5/§12 for holders of `platform.ops.view`: the alerts raised, newest first, each with its deliveries
 * (status, attempts, last error) and a link to its run; what the console's own inbox received; and, for
 * holders of `platform.operators.manage`, the destinations with add and remove forms.
 */
export const AlertsPage: FC<AlertsPageProps> = ({ nonce, viewer, alerts, received, destinations, attempt }) => {
  const addProblems = attempt?.form === 'add' ? attempt.problems : []
  const fullUrls = new Map((destinations ?? []).map((destination) => [destination.id, destination.url]))
  return (
    <Layout title="Alerts" nonce={nonce} viewer={viewer} current="alerts">
      <h1>Alerts</h1>
      <section class="card" aria-labelledby="alerts-raised-title">
        <h2 id="alerts-raised-title">Alerts raised</h2>
        {alerts.length === 0 ? (
          <p id="alerts-none">No alert has been raised. A run that fails or partially succeeds raises one.</p>
        ) : (
          <div class="table-wrap">
            <table class="stack" id="alerts">
              <thead>
                <tr>
                  <th scope="col">Raised</th>
                  <th scope="col">Alert</th>
                  <th scope="col">Run</th>
                  <th scope="col">Deliveries</th>
                </tr>
              </thead>
              <tbody>
                {alerts.map((alert) => (
                  <tr data-alert={alert.alertKey} data-run={alert.runId}>
                    <td data-label="Raised">
                      <Time at={alert.raisedAt} />
                    </td>
                    <td data-label="Alert">
                      <code>{alert.alertKey}</code>
                    </td>
                    <td data-label="Run">
                      <a href={consolePaths.run(alert.runId)}>{alert.runId}</a>
                    </td>
                    <td data-label="Deliveries">
                      <ul class="plain">
                        {alert.deliveries.map((delivery) => (
                          <li data-delivery={delivery.id} data-destination-kind={delivery.destination.kind}>
                            <DeliveryStatus delivery={delivery} /> {destinationLabel(delivery.destination, fullUrls)} · {delivery.attempts}{' '}
                            {delivery.attempts === 1 ? 'attempt' : 'attempts'}
                            {delivery.lastError ? <> · last error <code>{delivery.lastError}</code></> : null}
                            {delivery.status === 'recorded' && delivery.nextAttemptAt ? (
                              <>
                                {' '}
                                · next <Time at={delivery.nextAttemptAt} />
                              </>
                            ) : null}
                          </li>
                        ))}
                      </ul>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>

      <section class="card" aria-labelledby="alerts-received-title">
        <h2 id="alerts-received-title">Received by the console</h2>
        <p class="hint">Alerts the console's own destination received: signed POSTs to its inbox, checked before they are kept.</p>
        {received.length === 0 ? (
          <p id="received-none">Nothing received yet.</p>
        ) : (
          <ul class="plain" id="alerts-received">
            {received.map((alert) => (
              <li data-received={alert.deliveryId}>
                <Time at={alert.receivedAt} /> <code>{alert.alertKey}</code>
                {alert.runId ? (
                  <>
                    {' '}
                    about run <a href={consolePaths.run(alert.runId)}>{alert.runId}</a>
                  </>
                ) : null}
                {typeof alert.payload.run_type === 'string' ? <> ({alert.payload.run_type})</> : null}
              </li>
            ))}
          </ul>
        )}
      </section>

      {destinations ? (
        <section class="card" aria-labelledby="alert-destinations-title">
          <h2 id="alert-destinations-title">Destinations</h2>
          {attempt && attempt.form !== 'add' ? <ErrorAlert messages={[...(attempt.message ? [attempt.message] : []), ...attempt.problems.map((p) => p.message)]} /> : null}
          <ul class="plain" id="alert-destinations">
            {destinations.map((destination) => (
              <li data-destination={destination.id}>
                <strong>{destination.kind === 'console' ? 'Console inbox' : 'Webhook'}</strong> <code>{destination.url}</code>{' '}
                {destination.secretSet ? <span class="badge neutral">signed</span> : null} · added <Time at={destination.createdAt} />
                <form method="post" action={consolePaths.alertDestinationRemove(destination.id)} class="inline">
                  <input type="hidden" name={CSRF_FIELD} value={viewer.csrfToken} />
                  <button type="submit" class="secondary">
                    Remove
                  </button>
                </form>
              </li>
            ))}
          </ul>
          <h3>Add a webhook</h3>
          <form method="post" action={consolePaths.alertDestinations} novalidate id="add-alert-destination">
            <input type="hidden" name={CSRF_FIELD} value={viewer.csrfToken} />
            <ErrorAlert messages={[...(attempt?.form === 'add' && attempt.message ? [attempt.message] : []), ...messagesBesides(addProblems, ['url', 'secret'])]} />
            <label for="destination-url">URL</label>
            <input id="destination-url" name="url" type="url" autocomplete="off" value={attempt?.form === 'add' ? attempt.url : ''} maxlength={2048} aria-describedby="destination-url-error" />
            <p class="field-error" id="destination-url-error" aria-live="polite">
              {messagesForFields(addProblems, ['url']).join(' ')}
            </p>
            <label for="destination-secret">Secret</label>
            <input id="destination-secret" name="secret" type="password" autocomplete="new-password" aria-describedby="destination-secret-hint destination-secret-error" />
            <p class="hint" id="destination-secret-hint">
              Each POST carries <code>X-Signature: sha256=&lt;HMAC-SHA256 of the body with this secret&gt;</code>. It is never shown again.
            </p>
            <p class="field-error" id="destination-secret-error" aria-live="polite">
              {messagesForFields(addProblems, ['secret']).join(' ')}
            </p>
            <div class="actions">
              <button type="submit">Add the webhook</button>
            </div>
          </form>
        </section>
      ) : null}
    </Layout>
  )
}
