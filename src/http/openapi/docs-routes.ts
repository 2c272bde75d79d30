import { OpenAPIHono } from '@hono/zod-openapi'
import { z } from 'zod'
import type { AppEnv } from '../authentication.js'
import { apiRoute } from './api-route.js'
import { docsPage } from './docs-page.js'
import type { OpenApiDocument } from './openapi-document.js'
import { serveRoute } from './serve-route.js'

const documentRoute = apiRoute({
  method: 'get',
  path: '/openapi.json',
  summary: 'This document',
  tags: ['documentation'],
  access: 'public',
  answer: {
    status: 200,
    description: 'The OpenAPI 3.1 document of every /api route.',
    schema: z.looseObject({ openapi: z.string(), info: z.looseObject({}), paths: z.record(z.string(), z.unknown()) }),
  },
})

const docsPageRoute = apiRoute({
  method: 'get',
  path: '/docs',
  summary: 'This document for people',
  tags: ['documentation'],
  access: 'public',
  answer: { status: 200, description: 'An HTML page listing every operation.', mediaType: 'text/html', schema: z.string() },
})

// The page has no script at all and its only style is inline: nothing else may load or run.
const DOCS_PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

/**
 * GET /openapi.json and GET /docs, without authentication. `document` is a getter because the document
 * can be built only once every router is mounted, after these routes.
 */
export function docsRoutes(document: () => OpenApiDocument, documentUrl: string) {
  const app = new OpenAPIHono<AppEnv>()
  serveRoute(app, documentRoute, (c) => c.json(document()))
  serveRoute(app, docsPageRoute, async (c) => {
    c.header('Content-Security-Policy', DOCS_PAGE_CSP)
    return c.html(`<!doctype html>${await docsPage(document(), documentUrl)}`)
  })
  return app
}
