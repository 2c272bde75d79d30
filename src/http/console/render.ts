import type { Context } from 'hono'
import type { JSX } from 'hono/jsx/jsx-runtime'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import type { ConsoleEnv } from './console-env.js'
import type { Viewer } from './layout.js'

/** The response's CSP nonce, created by the console's secure-headers middleware. */
export function nonceOf(c: Context<ConsoleEnv>): string {
  const nonce = c.get('secureHeadersNonce')
  if (!nonce) throw new Error('the console CSP middleware did not run: no nonce for this response')
  return nonce
}

/** The signed-in operator as the layout shows them, or null before login. */
export function viewerOf(c: Context<ConsoleEnv>): Viewer | null {
  // Unset before login, whatever the type of the variable says.
  const session = c.get('session') as ConsoleEnv['Variables']['session'] | undefined
  if (!session) return null
  const { email, name, capabilities } = session.operator
  return { email, name, capabilities, csrfToken: session.csrfToken, halt: c.get('halt') ?? null }
}

/** A full HTML page; console pages are per-operator and never cached. */
export async function htmlPage(c: Context<ConsoleEnv>, page: JSX.Element, status: ContentfulStatusCode = 200): Promise<Response> {
  c.header('Cache-Control', 'no-store')
  return c.html(`<!doctype html>${await page}`, status)
}
