import type { FC } from 'hono/jsx'
import type { OpenApiDocument } from './openapi-document.js'
import { SchemaView, schemaAnchor, type JsonSchema } from './schema-view.js'

/**
 * GET /api/docs: the OpenAPI document rendered on the server as one self-contained page (no script, no
 * CDN), so it works offline and under a strict CSP. Everything shown comes from the document.
 */

interface Parameter {
  name: string
  in: string
  required?: boolean
  description?: string
  schema?: JsonSchema
}

interface MediaTypes {
  [mediaType: string]: { schema?: JsonSchema }
}

interface Operation {
  summary?: string
  description?: string
  security?: Array<Record<string, string[]>>
  'x-required-capabilities'?: string[]
  parameters?: Parameter[]
  requestBody?: { description?: string; required?: boolean; content?: MediaTypes }
  responses?: Record<string, { description?: string; headers?: Record<string, { description?: string }>; content?: MediaTypes }>
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const

const styles = `
body {
  font-family: system-ui, sans-serif; line-height: 1.5; max-width: 60rem; margin: 0 auto; padding: 1rem 1.5rem 4rem;
  color: #1b1f24; background: #fff;
}
@media (prefers-color-scheme: dark) { body { color: #e6edf3; background: #0d1117; } a { color: #79c0ff; } }
h2 { margin-top: 2.5rem; border-top: 1px solid #8884; padding-top: 1rem; font-size: 1.15rem; }
code { font-family: ui-monospace, monospace; font-size: 0.92em; }
.method { display: inline-block; min-width: 4.5em; font-weight: 700; text-transform: uppercase; }
.muted { opacity: 0.7; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: 0.25rem 0.5rem; border-bottom: 1px solid #8884; }
ul { margin: 0.25rem 0; padding-left: 1.25rem; }
`

const operationAnchor = (method: string, path: string) => `op-${method}-${path.replace(/[^A-Za-z0-9]+/g, '-')}`

function operationsOf(document: OpenApiDocument): Array<{ method: string; path: string; operation: Operation }> {
  return Object.entries(document.paths ?? {}).flatMap(([path, item]) =>
    METHODS.filter((method) => item[method]).map((method) => ({ method, path, operation: item[method] as Operation })),
  )
}

const Content: FC<{ content: MediaTypes | undefined }> = ({ content }) => (
  <ul>
    {Object.entries(content ?? {}).map(([mediaType, { schema }]) => (
      <li>
        <code>{mediaType}</code>: <SchemaView schema={schema} />
      </li>
    ))}
  </ul>
)

const Access: FC<{ operation: Operation }> = ({ operation }) => {
  if (!operation.security || operation.security.length === 0) return <p>No authentication.</p>
  const needed = operation['x-required-capabilities'] ?? []
  return (
    <p>
      Bearer token{needed.length > 0 ? ' of an operator with ' : ''}
      {needed.map((capability, index) => (
        <>
          {index > 0 ? ', ' : ''}
          <code>{capability}</code>
        </>
      ))}
      .
    </p>
  )
}

const OperationView: FC<{ method: string; path: string; operation: Operation }> = ({ method, path, operation }) => (
  <section>
    <h2 id={operationAnchor(method, path)}>
      <span class="method">{method}</span> <code>{path}</code>
    </h2>
    {operation.summary && <p>{operation.summary}</p>}
    {operation.description && <p>{operation.description}</p>}
    <Access operation={operation} />
    {operation.parameters && operation.parameters.length > 0 && (
      <>
        <h3>Parameters</h3>
        <table>
          <thead>
            <tr>
              <th>name</th>
              <th>in</th>
              <th>schema</th>
            </tr>
          </thead>
          <tbody>
            {operation.parameters.map((parameter) => (
              <tr>
                <td>
                  <code>{parameter.name}</code>
                  {parameter.required ? '' : <span class="muted"> (optional)</span>}
                </td>
                <td>{parameter.in}</td>
                <td>
                  <SchemaView schema={parameter.schema} />
                  {/* The generator copies a field's description to its parameter: show it once. */}
                  {parameter.description && parameter.description !== parameter.schema?.description && (
                    <span> — {parameter.description}</span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </>
    )}
    {operation.requestBody && (
      <>
        <h3>Request body{operation.requestBody.required ? '' : ' (optional)'}</h3>
        {operation.requestBody.description && <p>{operation.requestBody.description}</p>}
        <Content content={operation.requestBody.content} />
      </>
    )}
    <h3>Answers</h3>
    <ul>
      {Object.entries(operation.responses ?? {}).map(([status, response]) => (
        <li>
          <strong>{status}</strong> {response.description}
          {response.headers && (
            <span class="muted">
              {' '}
              (headers: {Object.keys(response.headers).join(', ')})
            </span>
          )}
          <Content content={response.content} />
        </li>
      ))}
    </ul>
  </section>
)

export function docsPage(document: OpenApiDocument, documentUrl: string) {
  const operations = operationsOf(document)
  const schemas = Object.entries((document.components?.schemas ?? {}) as Record<string, JsonSchema>)
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{document.info.title}</title>
        <style dangerouslySetInnerHTML={{ __html: styles }} />
      </head>
      <body>
        <h1>{document.info.title}</h1>
        <p>
          Version {document.info.version} · OpenAPI {document.openapi} · <a href={documentUrl}>the document as JSON</a>
        </p>
        {document.info.description && <p>{document.info.description}</p>}
        <nav>
          <ul>
            {operations.map(({ method, path, operation }) => (
              <li>
                <a href={`#${operationAnchor(method, path)}`}>
                  <span class="method">{method}</span> <code>{path}</code>
                </a>{' '}
                {operation.summary}
              </li>
            ))}
          </ul>
        </nav>
        {operations.map((entry) => (
          <OperationView {...entry} />
        ))}
        <h2>Schemas</h2>
        {schemas.map(([name, schema]) => (
          <section>
            <h3 id={schemaAnchor(name)}>{name}</h3>
            <SchemaView schema={schema} />
          </section>
        ))}
      </body>
    </html>
  )
}
