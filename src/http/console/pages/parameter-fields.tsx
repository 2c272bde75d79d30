import type { FC } from 'hono/jsx'
import type { FieldProblem } from '../../../commands/errors.js'
import { describeProblemAs } from '../field-problems.js'
import { parameterLabels, type ParameterLeaf, type ParameterNode } from '../parameter-form.js'

export interface ParameterFieldsProps {
  /** The form's id prefix (`rb1`): field ids are `<prefix>-param-<path>`. */
  prefix: string
  nodes: readonly ParameterNode[]
  /** As typed, by path; a field not here shows its default. */
  values: Readonly<Record<string, string>>
  problems: FieldProblem[]
}

const idOf = (prefix: string, key: string) => `${prefix}-param-${key.replace(/[^A-Za-z0-9_-]/g, '-')}`

/**
 * A runbook's parameters as form fields (SPEC §13), generated from its JSON Schema: a fieldset per object
 * (its title the legend), an input per leaf with the schema's bounds, its description as hint, its default
 * filled in, and beside each the command's `parameters.<path>` problems. Nothing for a runbook without
 * parameters.
 */
export const ParameterFields: FC<ParameterFieldsProps> = ({ prefix, nodes, values, problems }) => {
  if (nodes.length === 0) return null
  const labels = parameterLabels(nodes)
  const messages = (field: string) => problems.filter((problem) => problem.field === field).map((problem) => describeProblemAs(problem, labels))
  const context = { prefix, values, messages }
  return (
    <fieldset class="parameters" aria-describedby={`${prefix}-params-error`}>
      <legend>Parameters</legend>
      <p class="hint">Empty fields take their default.</p>
      <p class="field-error" id={`${prefix}-params-error`} data-error-for="parameters" aria-live="polite">
        {messages('parameters').join(' ')}
      </p>
      {nodes.map((node) => (
        <ParameterNodeFields node={node} {...context} />
      ))}
    </fieldset>
  )
}

interface NodeProps {
  node: ParameterNode
  prefix: string
  values: Readonly<Record<string, string>>
  messages: (field: string) => string[]
}

const ParameterNodeFields: FC<NodeProps> = ({ node, prefix, values, messages }) => {
  const id = idOf(prefix, node.key)
  if (node.kind === 'group') {
    const errors = messages(node.errorField)
    return (
      <fieldset class="parameter-group" aria-describedby={`${node.description ? `${id}-hint ` : ''}${id}-error`}>
        <legend>{node.label}</legend>
        {node.description ? (
          <p class="hint" id={`${id}-hint`}>
            {node.description}
          </p>
        ) : null}
        <p class="field-error" id={`${id}-error`} data-error-for={node.errorField} aria-live="polite">
          {errors.join(' ')}
        </p>
        <div class="parameter-fields">
          {node.children.map((child) => (
            <ParameterNodeFields node={child} prefix={prefix} values={values} messages={messages} />
          ))}
        </div>
      </fieldset>
    )
  }
  if (node.kind === 'unsupported') {
    return (
      <p class="hint">
        {node.label}: set with the API or the CLI; the default applies here.
      </p>
    )
  }
  return <ParameterInput field={node} id={id} values={values} errors={messages(node.errorField)} />
}

const ParameterInput: FC<{ field: ParameterLeaf; id: string; values: Readonly<Record<string, string>>; errors: string[] }> = ({
  field,
  id,
  values,
  errors,
}) => {
  const value = Object.hasOwn(values, field.key) ? values[field.key]! : field.defaultValue
  const describedBy = `${field.description ? `${id}-hint ` : ''}${id}-error`
  const common = {
    id,
    name: field.name,
    'aria-invalid': errors.length > 0 ? 'true' : undefined,
    'aria-describedby': describedBy,
    'data-param-path': JSON.stringify(field.path),
    'data-param-kind': field.kind,
    required: field.required,
  }
  const hint = field.description ? (
    <p class="hint" id={`${id}-hint`}>
      {field.description}
    </p>
  ) : null
  const error = (
    <p class="field-error" id={`${id}-error`} data-error-for={field.errorField} aria-live="polite">
      {errors.join(' ')}
    </p>
  )
  if (field.kind === 'boolean') {
    return (
      <div class="parameter">
        {/* Unchecked boxes post nothing: the hidden "false" comes first, a checked box's "true" after it wins. */}
        <input type="hidden" name={field.name} value="false" />
        <label class="checkbox">
          <input type="checkbox" {...common} value="true" checked={value === 'true' || value === 'on'} /> {field.label}
        </label>
        {hint}
        {error}
      </div>
    )
  }
  return (
    <div class="parameter">
      <label for={id}>{field.label}</label>
      {field.kind === 'enum' ? (
        <select {...common}>
          {field.required || field.defaultValue !== '' ? null : (
            <option value="" selected={value === ''}>
              (default)
            </option>
          )}
          {field.options!.map((option, index) => (
            <option value={option} data-value={JSON.stringify(field.optionValues![index])} selected={value === option}>
              {option}
            </option>
          ))}
        </select>
      ) : field.kind === 'string' ? (
        <input
          type="text"
          {...common}
          value={value}
          autocomplete="off"
          {...(field.minLength === undefined ? {} : { minlength: field.minLength })}
          {...(field.maxLength === undefined ? {} : { maxlength: field.maxLength })}
        />
      ) : (
        <input
          type="number"
          {...common}
          value={value}
          inputmode={field.kind === 'integer' ? 'numeric' : 'decimal'}
          step={field.step}
          {...(field.min === undefined ? {} : { min: field.min })}
          {...(field.max === undefined ? {} : { max: field.max })}
        />
      )}
      {hint}
      {error}
    </div>
  )
}
