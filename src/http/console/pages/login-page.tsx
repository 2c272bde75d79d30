import type { FC } from 'hono/jsx'
import type { HaltView } from '../../../commands/halt.js'
import { consolePaths } from '../console-env.js'
import { CSRF_FIELD } from '../csrf.js'
import { ErrorAlert, Layout } from '../layout.js'

export interface LoginPageProps {
  nonce: string
  csrfToken: string
  email?: string
  /** Where to go after login (an already-validated console path). */
  next?: string | null
  errors?: string[]
  fieldErrors?: { email?: string; password?: string }
  notice?: string | null
  /** SPEC §9: the login page shows the halt too (the fact only: who and why are for operators). */
  halt?: HaltView | null
}

export const LoginPage: FC<LoginPageProps> = ({ nonce, csrfToken, email, next, errors = [], fieldErrors = {}, notice, halt }) => (
  <Layout title="Log in" nonce={nonce} viewer={null} halt={halt ?? null}>
    <div class="card login">
      <h1>Log in</h1>
      {notice ? (
        <div class="alert info" role="status">
          <p>{notice}</p>
        </div>
      ) : null}
      <ErrorAlert messages={errors} />
      <form method="post" action={consolePaths.login}>
        <input type="hidden" name={CSRF_FIELD} value={csrfToken} />
        {next ? <input type="hidden" name="next" value={next} /> : null}
        <label for="login-email">Email</label>
        <input
          id="login-email"
          type="email"
          name="email"
          autocomplete="username"
          required
          autofocus
          value={email ?? ''}
          aria-invalid={fieldErrors.email ? 'true' : undefined}
          aria-describedby={fieldErrors.email ? 'login-email-error' : undefined}
        />
        {fieldErrors.email ? (
          <p class="field-error" id="login-email-error">
            {fieldErrors.email}
          </p>
        ) : null}
        <label for="login-password">Password</label>
        <input
          id="login-password"
          type="password"
          name="password"
          autocomplete="current-password"
          required
          aria-invalid={fieldErrors.password ? 'true' : undefined}
          aria-describedby={fieldErrors.password ? 'login-password-error' : undefined}
        />
        {fieldErrors.password ? (
          <p class="field-error" id="login-password-error">
            {fieldErrors.password}
          </p>
        ) : null}
        <div class="actions">
          <button type="submit">Log in</button>
        </div>
      </form>
    </div>
  </Layout>
)

export interface RateLimitedPageProps {
  nonce: string
  retryAfterSeconds: number
  retryAt: Date
}

/** The 429 page: says when the next attempt will be accepted. */
export const RateLimitedPage: FC<RateLimitedPageProps> = ({ nonce, retryAfterSeconds, retryAt }) => (
  <Layout title="Too many login attempts" nonce={nonce} viewer={null}>
    <div class="card login">
      <h1>Too many login attempts</h1>
      <div class="alert error" role="alert">
        <p>
          Too many login attempts for this email from your address. Try again in {retryAfterSeconds} seconds (at{' '}
          <time datetime={retryAt.toISOString()}>{retryAt.toISOString().slice(11, 19)} UTC</time>).
        </p>
      </div>
      <p>
        <a href={consolePaths.login}>Back to the login form</a>
      </p>
    </div>
  </Layout>
)
