import type { FC } from 'hono/jsx'

/** A JSON Schema as it appears in the OpenAPI document (only what the page shows is typed). */
export interface JsonSchema {
  $ref?: string
  type?: string | string[]
  enum?: unknown[]
  const?: unknown
  format?: string
  pattern?: string
  description?: string
  default?: unknown
  minimum?: number
  maximum?: number
  exclusiveMinimum?: number
  minLength?: number
  maxLength?: number
  properties?: Record<string, JsonSchema>
  required?: string[]
  additionalProperties?: boolean | JsonSchema
  items?: JsonSchema
  oneOf?: JsonSchema[]
  anyOf?: JsonSchema[]
  allOf?: JsonSchema[]
}

export const schemaAnchor = (name: string) => `schema-${name}`

const refName = (ref: string) => ref.slice(ref.lastIndexOf('/') + 1)

/** "string, 1–200 characters", "integer ≥ 1 ≤ 200", "one of: a, b" … */
function constraints(schema: JsonSchema): string[] {
  const notes: string[] = []
  if (schema.enum) notes.push(`one of: ${schema.enum.map((value) => JSON.stringify(value)).join(', ')}`)
  if (schema.const !== undefined) notes.push(`exactly ${JSON.stringify(schema.const)}`)
  if (schema.format) notes.push(schema.format)
  if (schema.minLength !== undefined) notes.push(`at least ${schema.minLength} characters`)
  if (schema.maxLength !== undefined) notes.push(`at most ${schema.maxLength} characters`)
  if (schema.minimum !== undefined) notes.push(`≥ ${schema.minimum}`)
  if (schema.exclusiveMinimum !== undefined) notes.push(`> ${schema.exclusiveMinimum}`)
  if (schema.maximum !== undefined) notes.push(`≤ ${schema.maximum}`)
  if (schema.pattern) notes.push(`matching /${schema.pattern}/`)
  if (schema.default !== undefined) notes.push(`default ${JSON.stringify(schema.default)}`)
  return notes
}

/** A schema as nested lists: types, constraints and descriptions; references link to the Schemas section. */
export const SchemaView: FC<{ schema: JsonSchema | undefined }> = ({ schema }) => {
  if (!schema) return <span class="muted">any</span>
  if (schema.$ref) {
    const name = refName(schema.$ref)
    return <a href={`#${schemaAnchor(name)}`}>{name}</a>
  }
  const alternatives = schema.oneOf ?? schema.anyOf ?? schema.allOf
  const types = Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : []
  const notes = constraints(schema)
  return (
    <span>
      <code>{types.length > 0 ? types.join(' | ') : alternatives ? (schema.allOf ? 'all of' : 'one of') : 'any'}</code>
      {notes.length > 0 && <span class="muted"> ({notes.join('; ')})</span>}
      {schema.description && <span> — {schema.description}</span>}
      {schema.items && (
        <span>
          {' '}
          of <SchemaView schema={schema.items} />
        </span>
      )}
      {alternatives && (
        <ul>
          {alternatives.map((alternative) => (
            <li>
              <SchemaView schema={alternative} />
            </li>
          ))}
        </ul>
      )}
      {schema.properties && (
        <ul>
          {Object.entries(schema.properties).map(([name, property]) => (
            <li>
              <code>{name}</code>
              {schema.required?.includes(name) ? '' : <span class="muted"> (optional)</span>}: <SchemaView schema={property} />
            </li>
          ))}
        </ul>
      )}
      {typeof schema.additionalProperties === 'object' && Object.keys(schema.additionalProperties).length > 0 && (
        <span>
          {' '}
          with values <SchemaView schema={schema.additionalProperties} />
        </span>
      )}
    </span>
  )
}
