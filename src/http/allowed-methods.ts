import type { RouterRoute } from 'hono/types'
import { TrieRouter } from 'hono/router/trie-router'

/** The order methods are listed in an `Allow` header. */
const METHOD_ORDER = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']

/**
 * Which methods the app serves on a path: what a request with another method is told (405 with `Allow`, RFC
 * 9110 §15.5.6) instead of "no route". Read from the app's own routes (one list: a route added is known here
 * without being named twice). Middleware is not a route: what is registered for every method (`use`, `all`)
 * or for a whole subtree (a path ending in `*`) says nothing about what a path serves. Built at the first
 * question, when every route is registered; `GET` implies `HEAD`, which Hono answers from the `GET` route.
 */
export class AllowedMethods {
  private router: TrieRouter<string> | null = null

  constructor(private readonly routes: () => readonly RouterRoute[]) {}

  of(path: string): string[] {
    const router = (this.router ??= this.build())
    const allowed = new Set<string>()
    for (const method of METHOD_ORDER) {
      if (router.match(method, path)[0].some(([served]) => served === method)) allowed.add(method)
    }
    if (allowed.has('GET')) allowed.add('HEAD')
    return METHOD_ORDER.filter((method) => allowed.has(method))
  }

  private build(): TrieRouter<string> {
    const router = new TrieRouter<string>()
    for (const { method, path } of this.routes()) {
      if (method === 'ALL' || path.endsWith('*')) continue
      router.add(method, path, method)
    }
    return router
  }
}
