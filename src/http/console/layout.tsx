import type { Child, FC } from 'hono/jsx'
import { capabilities } from '../../auth/capabilities.js'
import { consolePaths } from './console-env.js'
import { CSRF_FIELD } from './csrf.js'
import { consoleStyles } from './styles.js'

/** Who is looking at a page: drives the navigation and the logout form. */
export interface Viewer {
  email: string
  name: string
  capabilities: readonly string[]
  csrfToken: string
}

export interface LayoutProps {
  title: string
  nonce: string
  viewer: Viewer | null
  current?: 'runbooks' | 'runs'
  /** A page's own client script — static code only; data reaches it through escaped data-* attributes. */
  script?: string
  children?: Child
}

export const Layout: FC<LayoutProps> = ({ title, nonce, viewer, current, script, children }) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <meta name="color-scheme" content="light dark" />
      <title>{`${title} · Runbook control plane`}</title>
      <style nonce={nonce} dangerouslySetInnerHTML={{ __html: consoleStyles }} />
    </head>
    <body>
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <header class="top">
        <div class="bar">
          <span class="brand">Runbook control plane</span>
          {viewer ? <Navigation viewer={viewer} current={current} /> : null}
        </div>
      </header>
      <main id="main">{children}</main>
      {script ? <script nonce={nonce} dangerouslySetInnerHTML={{ __html: script }} /> : null}
    </body>
  </html>
)

const Navigation: FC<{ viewer: Viewer; current: LayoutProps['current'] }> = ({ viewer, current }) => (
  <>
    <nav aria-label="Console">
      <ul>
        {viewer.capabilities.includes(capabilities.runbooksView) ? (
          <li>
            <a href={consolePaths.runbooks} aria-current={current === 'runbooks' ? 'page' : undefined}>
              Runbooks
            </a>
          </li>
        ) : null}
        {viewer.capabilities.includes(capabilities.opsView) ? (
          <li>
            <a href={consolePaths.runs} aria-current={current === 'runs' ? 'page' : undefined}>
              Runs
            </a>
          </li>
        ) : null}
      </ul>
    </nav>
    <div class="who">
      <span>
        Signed in as <strong>{viewer.name}</strong> ({viewer.email})
      </span>
      <form method="post" action={consolePaths.logout}>
        <input type="hidden" name={CSRF_FIELD} value={viewer.csrfToken} />
        <button type="submit" class="secondary">
          Log out
        </button>
      </form>
    </div>
  </>
)

/** A page's error messages as one alert, announced to screen readers. */
export const ErrorAlert: FC<{ messages: string[] }> = ({ messages }) =>
  messages.length === 0 ? null : (
    <div class="alert error" role="alert">
      {messages.length === 1 ? (
        <p>{messages[0]}</p>
      ) : (
        <ul>
          {messages.map((message) => (
            <li>{message}</li>
          ))}
        </ul>
      )}
    </div>
  )
