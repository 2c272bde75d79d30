import type { Context } from 'hono'
import type { RouterRoute } from 'hono/types'
import { TrieRouter } from 'hono/router/trie-router'

/** The order methods are listed in an `Allow` header. */
const METHOD_ORDER = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']

/**
 * Which methods the app serves on a path: what a request with another method is told (405 with `Allow`, RFC
 * 9110 §15.5.6) instead of "no route". Read from the app's own routes (one list: a route added is known here
 * without being named twice), into a router of its own, made again when routes were added since. Middleware is
 * not a route: what is registered for every method (`use`, `all`) or for a subtree (a path ending in `*`) says
 * nothing about what a path serves. `GET` implies `HEAD`, which Hono answers from the `GET` route. A path's
 * parameters are not judged here: `PUT /api/runs/<anything>` is 405, as the router sees a run's path.
 */
export class AllowedMethods {
  private router: TrieRouter<string> | null = null
  private routeCount = -1

  constructor(private readonly routes: () => readonly RouterRoute[]) {}

  of(path: string): string[] {
    const router = this.current()
    const allowed = new Set(METHOD_ORDER.filter((method) => router.match(method, path)[0].length > 0))
    if (allowed.has('GET')) allowed.add('HEAD')
    return METHOD_ORDER.filter((method) => allowed.has(method))
  }

  private current(): TrieRouter<string> {
    const routes = this.routes()
    if (this.router && routes.length === this.routeCount) return this.router
    const router = new TrieRouter<string>()
    for (const { method, path } of routes) {
      if (method === 'ALL' || path.endsWith('*')) continue
      router.add(method, path, method)
    }
    this.routeCount = routes.length
    return (this.router = router)
  }
}

/** Sets the `Allow` header of a 405 answer. */
export function setAllow(c: Context, allowed: readonly string[]): void {
  c.header('allow', allowed.join(', '))
}
