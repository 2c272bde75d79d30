import type { AlertDestinationKind, DomainEvent } from '../events/index.js'
import { isUnsafeText } from '../events/safe-text.js'
import type { LoggedEvent } from '../store/event-log.js'
import { hostAllowed, type WebhookHostPolicy } from './alert-destinations-hosts.js'
import { NotFoundError, ValidationError, ConflictError, type FieldProblem } from './errors.js'

/** One alert destination (SPEC §12 "Alert delivery"), folded from its own stream. */
export type AlertDestinationState =
  | { status: 'absent' }
  | { status: 'active'; id: string; kind: AlertDestinationKind; url: string; workspaceId: number }
  | { status: 'removed'; id: string }

export type AlertDestinationCommand =
  | {
      type: 'AddAlertDestination'
      id: string
      kind: AlertDestinationKind
      /** As given: a webhook's absolute URL (user info allowed), the console inbox's own path. */
      url: string
      /** As given; checked (never recorded in an event): 1–1024 characters, text PostgreSQL can store. */
      secret: string
      workspaceId: number
      hostPolicy: WebhookHostPolicy | null
      at: string
    }
  | { type: 'RemoveAlertDestination'; id: string; at: string }

export const initialAlertDestinationState = (): AlertDestinationState => ({ status: 'absent' })

export function evolveAlertDestination(state: AlertDestinationState, logged: Pick<LoggedEvent, 'event'>): AlertDestinationState {
  const event = logged.event
  switch (event.type) {
    case 'AlertDestinationAdded':
      return { status: 'active', id: event.data.destinationId, kind: event.data.kind, url: event.data.url, workspaceId: event.data.workspaceId }
    case 'AlertDestinationRemoved':
      return { status: 'removed', id: event.data.destinationId }
    default:
      throw new Error(`an alert destination stream holds ${event.type}: the stream is corrupt`)
  }
}

const MAX_URL_LENGTH = 2048
export const MAX_SECRET_LENGTH = 1024
const UNSTORABLE = 'contains characters that cannot be stored (a NUL or a lone surrogate)'

export function decideAlertDestination(command: AlertDestinationCommand, state: AlertDestinationState): DomainEvent[] {
  switch (command.type) {
    case 'AddAlertDestination': {
      if (state.status !== 'absent') throw new ConflictError(`alert destination ${command.id} exists already`)
      const url = command.kind === 'webhook' ? checkedWebhookDestination(command, command.hostPolicy).shownUrl : command.url
      const secretProblems = command.kind === 'webhook' ? [] : checkedSecret(command.secret)
      if (secretProblems.length > 0) throw new ValidationError(secretProblems)
      return [{ type: 'AlertDestinationAdded', data: { destinationId: command.id, workspaceId: command.workspaceId, kind: command.kind, url, addedAt: command.at } }]
    }
    case 'RemoveAlertDestination':
      if (state.status !== 'active') throw new NotFoundError('alert destination', command.id)
      return [{ type: 'AlertDestinationRemoved', data: { destinationId: command.id, removedAt: command.at } }]
  }
}

/**
 * SPEC §12, the rules of a webhook destination, the same for the API and the console: the URL is `http` or
 * `https`, at most 2048 characters, to an allowed host (every host when OPS_WEBHOOK_ALLOWED_HOSTS is unset);
 * the secret is 1–1024 characters; neither holds text PostgreSQL cannot store. Throws a ValidationError
 * naming every field that breaks one. `target`: what is stored and posted to (the parsed, normalised URL,
 * user info kept: the sender sends it as Basic authentication); `shownUrl`: what events, audit entries and
 * deliveries show of it (redactedWebhookUrl).
 */
export function checkedWebhookDestination(
  input: { url: string; secret: string },
  hostPolicy: WebhookHostPolicy | null,
): { target: string; shownUrl: string } {
  const problems: FieldProblem[] = []
  const checked = webhookTarget(input.url, hostPolicy)
  if (!checked.ok) problems.push({ field: 'url', message: checked.message })
  problems.push(...checkedSecret(input.secret))
  if (problems.length > 0 || !checked.ok) throw new ValidationError(problems)
  return { target: checked.url.href, shownUrl: redactedWebhookUrl(checked.url)! }
}

function checkedSecret(secret: string): FieldProblem[] {
  if (secret.length === 0) return [{ field: 'secret', message: 'is required' }]
  if (secret.length > MAX_SECRET_LENGTH) return [{ field: 'secret', message: `must be at most ${MAX_SECRET_LENGTH} characters` }]
  if (isUnsafeText(secret)) return [{ field: 'secret', message: UNSTORABLE }]
  return []
}

/**
 * Whether a webhook URL can be posted to, and why not. `scheme` and `host` are the only refusals a stored
 * URL can meet later (a deployment narrows OPS_WEBHOOK_ALLOWED_HOSTS; a row of an earlier release).
 */
export type WebhookTarget =
  | { ok: true; url: URL }
  | { ok: false; reason: 'too_long' | 'unstorable' | 'not_a_url' | 'scheme' | 'host'; message: string }

export function webhookTarget(raw: string, hostPolicy: WebhookHostPolicy | null): WebhookTarget {
  if (raw.length > MAX_URL_LENGTH) return { ok: false, reason: 'too_long', message: `must be at most ${MAX_URL_LENGTH} characters` }
  if (isUnsafeText(raw)) return { ok: false, reason: 'unstorable', message: UNSTORABLE }
  // The URL parser drops tabs and line breaks: `http://h/\r\nX-Injected: 1` would be stored as another URL
  // than the one typed. Such a URL is refused, not rewritten (blanks around it are a field's; a space inside is
  // encoded as %20, which is what it means).
  if (/[\u0000-\u001F\u007F]/.test(raw.trim())) return { ok: false, reason: 'not_a_url', message: 'must not contain control characters (tabs, line breaks)' }
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return { ok: false, reason: 'not_a_url', message: 'must be an absolute http or https URL' }
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { ok: false, reason: 'scheme', message: 'must be an http or https URL' }
  if (!hostAllowed(hostPolicy, url.hostname)) {
    return { ok: false, reason: 'host', message: `host ${url.hostname} is not allowed (OPS_WEBHOOK_ALLOWED_HOSTS: ${hostPolicy!.entries.join(', ')})` }
  }
  return { ok: true, url }
}

/**
 * What may be shown of a webhook URL anywhere but the destinations list (`platform.operators.manage`):
 * `scheme://host[:port]`, with `/…` when it has a path, query or fragment — a Slack- or Teams-style URL's
 * path or query IS its credential — and never its user info. The one redaction of a webhook URL: the
 * AlertDestinationAdded event (so its audit entry), GET /api/alert-deliveries and the console's deliveries.
 * null: not an http(s) URL (a row of an earlier release, or written by hand).
 */
export function redactedWebhookUrl(raw: URL | string): string | null {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return null
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return null
  const elided = url.pathname !== '/' || url.search !== '' || url.hash !== ''
  return `${url.protocol}//${url.host}/${elided ? '…' : ''}`
}

/** The URL without its user info: what the destinations list (`platform.operators.manage`) shows. */
export function withoutCredentials(url: URL | string): string {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return String(url)
  }
  parsed.username = ''
  parsed.password = ''
  return parsed.toString()
}
