import type { Child, FC } from 'hono/jsx'
import { consolePaths, landingPathFor } from '../console-env.js'
import { Layout, type Viewer } from '../layout.js'

export interface ErrorPageProps {
  nonce: string
  viewer: Viewer | null
  title: string
  message: string
  children?: Child
}

/** 403, 404 and other refusals: says what happened and where to go next. */
export const ErrorPage: FC<ErrorPageProps> = ({ nonce, viewer, title, message, children }) => (
  <Layout title={title} nonce={nonce} viewer={viewer}>
    <h1>{title}</h1>
    <div class="alert error" role="alert">
      <p>{message}</p>
    </div>
    {children}
    <p>
      {viewer ? <a href={landingPathFor(viewer.capabilities)}>Back to the console</a> : <a href={consolePaths.login}>Log in</a>}
    </p>
  </Layout>
)
