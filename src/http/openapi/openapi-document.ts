import type { OpenAPIHono } from '@hono/zod-openapi'
import { mergePath } from 'hono/utils/url'
import type { AppEnv } from '../authentication.js'
import { BEARER_SCHEME } from './api-route.js'

export type OpenApiDocument = ReturnType<OpenAPIHono['getOpenAPI31Document']>

/**
 * The OpenAPI 3.1 document of every route registered on `api` (sub-routers included, as mounted).
 * `basePath` is where `api` is mounted: the document names paths as clients call them (`/api/runs/{id}`).
 */
export function openApiDocument(api: OpenAPIHono<AppEnv>, basePath: string): OpenApiDocument {
  const document = api.getOpenAPI31Document({
    openapi: '3.1.0',
    info: {
      title: 'Runbook control plane API',
      // The contract's version, not the package's: it changes when the API does.
      version: '1',
      description:
        'Operator control plane for safe backfills and data repair across tenants. JSON, camelCase; errors are ' +
        'application/problem+json (RFC 9457). Authenticate with a bearer token from `POST /api/auth/tokens`.',
    },
  })
  const paths = Object.fromEntries(Object.entries(document.paths ?? {}).map(([path, item]) => [mergePath(basePath, path), item]))
  const securitySchemes = {
    [BEARER_SCHEME]: { type: 'http' as const, scheme: 'bearer', description: 'A token from `POST /api/auth/tokens`.' },
  }
  return { ...document, paths, components: { ...document.components, securitySchemes } }
}
