import type { DomainEvent } from '../events/index.js'
import type { AppendContext, EventLog, LoggedEvent } from '../store/event-log.js'
import { WrongExpectedRevisionError } from '../store/event-store.js'

export interface Decider<S, C> {
  initialState: () => S
  /** Folds one event; `recordedAt` is absent for events just decided and not yet read back. */
  evolve: (state: S, event: Pick<LoggedEvent, 'event'> & { recordedAt?: Date }) => S
  decide: (command: C, state: S) => DomainEvent[]
}

export interface HandledCommand<S> {
  events: DomainEvent[]
  state: S
  position: string | null
  /** Ids of the appended events, in order (empty when the command produced none). */
  eventIds: string[]
}

const MAX_ATTEMPTS = 50

/**
 * Folded states of streams this process wrote or read lately, so that a hot stream (a run receiving one
 * result per tenant) is loaded by reading only the events after the cached revision. Events are
 * immutable, so a cached fold is never wrong, only possibly behind; the tail read brings it up to date.
 */
export class StreamStateCache<S> {
  private readonly entries = new Map<string, { state: S; revision: number }>()

  constructor(private readonly capacity = 256) {}

  get(streamId: string): { state: S; revision: number } | undefined {
    const entry = this.entries.get(streamId)
    if (entry) {
      this.entries.delete(streamId)
      this.entries.set(streamId, entry)
    }
    return entry
  }

  set(streamId: string, entry: { state: S; revision: number }): void {
    this.entries.delete(streamId)
    this.entries.set(streamId, entry)
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!)
  }

  /** Forgets every stream but these. */
  retainOnly(streamIds: ReadonlySet<string>): void {
    for (const streamId of [...this.entries.keys()]) if (!streamIds.has(streamId)) this.entries.delete(streamId)
  }
}

/** The stream's state: the cached fold (if any) brought up to date by reading only the events after it. */
export async function loadState<S, C>(
  log: EventLog,
  streamId: string,
  decider: Decider<S, C>,
  cache: StreamStateCache<S> | undefined,
): Promise<{ state: S; revision: number | null }> {
  const cached = cache?.get(streamId)
  const fromRevision = cached ? cached.revision + 1 : 0
  const { events, revision } = await log.read(streamId, { fromRevision })
  const state = events.reduce(decider.evolve, cached ? cached.state : decider.initialState())
  if (cache && revision !== null) cache.set(streamId, { state, revision })
  return { state, revision }
}

/**
 * Load, decide, append — nothing else. The append carries the revision the decision was made on; when a
 * concurrent writer got there first the command is decided again on a fresh read (DESIGN invariant 1), so
 * no event is lost and none is applied twice. `context` may depend on the events decided (each event's own
 * causation).
 */
export async function handleCommand<S, C>(
  log: EventLog,
  streamId: string,
  decider: Decider<S, C>,
  command: C,
  context: AppendContext | ((events: readonly DomainEvent[]) => AppendContext),
  cache?: StreamStateCache<S>,
): Promise<HandledCommand<S>> {
  for (let attempt = 1; ; attempt++) {
    const { state, revision } = await loadState(log, streamId, decider, cache)
    const events = decider.decide(command, state)
    if (events.length === 0) return { events, state, position: null, eventIds: [] }
    try {
      const appended = await log.append(streamId, events, revision === null ? 'no_stream' : revision, typeof context === 'function' ? context(events) : context)
      const after = events.reduce((s, event) => decider.evolve(s, { event }), state)
      cache?.set(streamId, { state: after, revision: appended.nextExpectedRevision })
      return { events, state: after, position: appended.position, eventIds: appended.eventIds }
    } catch (error) {
      if (!(error instanceof WrongExpectedRevisionError) || attempt >= MAX_ATTEMPTS) throw error
      // A short random pause spreads out writers that keep colliding on a hot stream.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(50, attempt * 5)))
    }
  }
}
