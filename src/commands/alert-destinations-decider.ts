import type { AlertDestinationKind, DomainEvent } from '../events/index.js'
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

export function decideAlertDestination(command: AlertDestinationCommand, state: AlertDestinationState): DomainEvent[] {
  switch (command.type) {
    case 'AddAlertDestination': {
      if (state.status !== 'absent') throw new ConflictError(`alert destination ${command.id} exists already`)
      const url = command.kind === 'webhook' ? checkedWebhookUrl(command.url, command.hostPolicy) : command.url
      return [{ type: 'AlertDestinationAdded', data: { destinationId: command.id, workspaceId: command.workspaceId, kind: command.kind, url, addedAt: command.at } }]
    }
    case 'RemoveAlertDestination':
      if (state.status !== 'active') throw new NotFoundError('alert destination', command.id)
      return [{ type: 'AlertDestinationRemoved', data: { destinationId: command.id, removedAt: command.at } }]
  }
}

/**
 * SPEC §12: `http` or `https`, to an allowed host (every host when OPS_WEBHOOK_ALLOWED_HOSTS is unset).
 * Returns the URL as it may be shown (events, answers, audit): without user info, which is a credential.
 */
export function checkedWebhookUrl(raw: string, hostPolicy: WebhookHostPolicy | null): string {
  const problems: FieldProblem[] = []
  let url: URL | null = null
  if (raw.length > MAX_URL_LENGTH) problems.push({ field: 'url', message: `must be at most ${MAX_URL_LENGTH} characters` })
  else {
    try {
      url = new URL(raw)
    } catch {
      problems.push({ field: 'url', message: 'must be an absolute http or https URL' })
    }
  }
  if (url && url.protocol !== 'http:' && url.protocol !== 'https:') problems.push({ field: 'url', message: 'must be an http or https URL' })
  else if (url && !hostAllowed(hostPolicy, url.hostname)) {
    problems.push({ field: 'url', message: `host ${url.hostname} is not allowed (OPS_WEBHOOK_ALLOWED_HOSTS: ${hostPolicy!.entries.join(', ')})` })
  }
  if (problems.length > 0 || !url) throw new ValidationError(problems)
  return withoutCredentials(url)
}

/** The URL without its user info: what may be shown of a destination. */
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
