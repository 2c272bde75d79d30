import type { Child, FC } from 'hono/jsx'
import { capabilities } from '../../auth/capabilities.js'
import type { HaltView } from '../../commands/halt.js'
import { consolePaths } from './console-env.js'
import { CSRF_FIELD } from './csrf.js'
import { consoleStyles } from './styles.js'

/** Who is looking at a page: drives the navigation and the logout form. */
export interface Viewer {
  email: string
  name: string
  capabilities: readonly string[]
  csrfToken: string
  /** The deployment's halt as of this request (SPEC §9): every page of a session shows a banner while halted. */
  halt: HaltView | null
}

export interface LayoutProps {
  title: string
  nonce: string
  viewer: Viewer | null
  current?: 'runbooks' | 'runs' | 'audit' | 'alerts' | 'halt' | 'operators' | 'account'
  /** A page's own client script — static code only; data reaches it through escaped data-* attributes. */
  script?: string
  /** The halt as of this request, for a page without a session (the login): the viewer's otherwise. */
  halt?: HaltView | null
  children?: Child
}

export const Layout: FC<LayoutProps> = ({ title, nonce, viewer, current, script, halt, children }) => (
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
      <main id="main">
        {viewer?.halt?.halted ? (
          <HaltBanner capabilities={viewer.capabilities} halt={viewer.halt} />
        ) : !viewer && halt?.halted ? (
          <HaltBanner capabilities={[]} halt={halt} />
        ) : null}
        {children}
      </main>
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
        {viewer.capabilities.includes(capabilities.opsView) ? (
          <li>
            <a href={consolePaths.audit} aria-current={current === 'audit' ? 'page' : undefined}>
              Audit
            </a>
          </li>
        ) : null}
        {viewer.capabilities.includes(capabilities.opsView) ? (
          <li>
            <a href={consolePaths.alerts} aria-current={current === 'alerts' ? 'page' : undefined}>
              Alerts
            </a>
          </li>
        ) : null}
        {viewer.capabilities.includes(capabilities.opsHalt) ? (
          <li>
            <a href={consolePaths.halt} aria-current={current === 'halt' ? 'page' : undefined}>
              Halt
            </a>
          </li>
        ) : null}
        {viewer.capabilities.includes(capabilities.operatorsManage) ? (
          <li>
            <a href={consolePaths.operators} aria-current={current === 'operators' ? 'page' : undefined}>
              Operators
            </a>
          </li>
        ) : null}
      </ul>
    </nav>
    <div class="who">
      <span>
        Signed in as <strong>{viewer.name}</strong> ({viewer.email})
      </span>
      <a href={consolePaths.account} aria-current={current === 'account' ? 'page' : undefined}>
        Your account
      </a>
      <form method="post" action={consolePaths.logout}>
        <input type="hidden" name={CSRF_FIELD} value={viewer.csrfToken} />
        <button type="submit" class="secondary">
          Log out
        </button>
      </form>
    </div>
  </>
)

/** A time as the console shows it: `2026-01-02 03:04:05 UTC`, in a machine-readable <time>. */
export const Time: FC<{ at: string | null }> = ({ at }) =>
  at ? <time datetime={at}>{at.replace('T', ' ').slice(0, 19)} UTC</time> : <span>—</span>

/**
 * SPEC §9: while the deployment is halted, every console page says so. Who halted, why and when are
 * what `GET /api/halt` shows, so they are shown to holders of `platform.ops.view`; everyone else (the login
 * page's visitor too) learns only that starts and resumes are refused.
 */
const HaltBanner: FC<{ capabilities: readonly string[]; halt: HaltView }> = ({ capabilities: held, halt }) => {
  const detailed = held.includes(capabilities.opsView)
  return (
    <section class="alert halt" role="alert" aria-labelledby="halt-banner-title" id="halt-banner">
      <p>
        <strong id="halt-banner-title">The deployment is halted.</strong> Runs are paused and no run can be started or resumed until the
        halt is lifted.
      </p>
      {detailed ? (
        <p>
          {halt.reason ? (
            <>
              <code>{halt.reason.code}</code> {halt.reason.text}
              {' · '}
            </>
          ) : null}
          Halted by {halt.by ? `${halt.by.name} (${halt.by.email})` : 'the service'} at <Time at={halt.at} />
        </p>
      ) : null}
      {held.includes(capabilities.opsHalt) ? (
        <p>
          <a href={consolePaths.halt}>Lift the halt</a>
        </p>
      ) : null}
    </section>
  )
}

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
