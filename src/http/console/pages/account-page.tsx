import type { FC } from 'hono/jsx'
import type { OperatorRecord } from '../../../auth/operator-store.js'
import type { FieldProblem } from '../../../commands/errors.js'
import { consolePaths } from '../console-env.js'
import { CSRF_FIELD } from '../csrf.js'
import { messagesBesides, messagesForFields } from '../field-problems.js'
import { ErrorAlert, Layout, Time, type Viewer } from '../layout.js'

export interface AccountPageProps {
  nonce: string
  viewer: Viewer
  me: OperatorRecord
  /** A refused password change (422 beside the fields). */
  problems: FieldProblem[]
  /** A refusal of the whole request (429 rate limit, 503 hashing busy). */
  message?: string | null
}

/** "Your account": who the operator is (`GET /api/me`) and their own password change (SPEC §10). */
export const AccountPage: FC<AccountPageProps> = ({ nonce, viewer, me, problems, message }) => {
  const currentErrors = messagesForFields(problems, ['currentPassword'])
  const newErrors = messagesForFields(problems, ['password'])
  return (
    <Layout title="Your account" nonce={nonce} viewer={viewer} current="account">
      <h1>Your account</h1>
      <section class="card" aria-labelledby="me-title">
        <h2 id="me-title">You</h2>
        <dl class="facts" id="me">
          <dt>Email</dt>
          <dd>{me.email}</dd>
          <dt>Name</dt>
          <dd>{me.name}</dd>
          <dt>Capabilities</dt>
          <dd>
            {me.capabilities.length === 0
              ? 'none'
              : me.capabilities.map((capability) => (
                  <>
                    <code>{capability}</code>{' '}
                  </>
                ))}
          </dd>
          <dt>Break-glass</dt>
          <dd>{me.isBreakGlass ? 'yes' : 'no'}</dd>
          <dt>Created</dt>
          <dd>
            <Time at={me.createdAt} />
          </dd>
          <dt>Last login</dt>
          <dd>
            <Time at={me.lastLoginAt} />
          </dd>
        </dl>
      </section>
      <section class="card" aria-labelledby="password-title">
        <h2 id="password-title">Change your password</h2>
        <p>Every session and token of yours ends, this one included: you log in again with the new password.</p>
        <form method="post" action={consolePaths.accountPassword} novalidate id="change-password">
          <input type="hidden" name={CSRF_FIELD} value={viewer.csrfToken} />
          <ErrorAlert messages={[...(message ? [message] : []), ...messagesBesides(problems, ['currentPassword', 'password'])]} />
          <label for="current-password">Current password</label>
          <input id="current-password" name="currentPassword" type="password" autocomplete="current-password" aria-describedby="current-password-error" aria-invalid={currentErrors.length > 0 ? 'true' : undefined} />
          <p class="field-error" id="current-password-error" aria-live="polite">
            {currentErrors.join(' ')}
          </p>
          <label for="new-password">New password</label>
          <input id="new-password" name="password" type="password" autocomplete="new-password" aria-describedby="new-password-hint new-password-error" aria-invalid={newErrors.length > 0 ? 'true' : undefined} />
          <p class="hint" id="new-password-hint">
            At least 12 characters.
          </p>
          <p class="field-error" id="new-password-error" aria-live="polite">
            {newErrors.join(' ')}
          </p>
          <div class="actions">
            <button type="submit">Change my password</button>
          </div>
        </form>
      </section>
    </Layout>
  )
}
