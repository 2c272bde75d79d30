import type { FC } from 'hono/jsx'
import { consolePaths } from '../console-env.js'
import { Time } from '../layout.js'
import { TIMELINE_WINDOW, type TimelineEntry, type TimelineWindow } from '../run-timeline.js'

/**
 * The run's events as an auditor reads them (SPEC §12): when, who, what, why, and each event's JSON behind a
 * disclosure. The live script (run-script.ts) appends entries with this same structure as they happen.
 */
export const TimelineItem: FC<{ entry: TimelineEntry }> = ({ entry }) => (
  <li class="timeline-entry" data-revision={String(entry.revision)} data-last-revision={String(entry.lastRevision)}>
    <p>
      <span class="timeline-when">
        <Time at={entry.at} />
      </span>{' '}
      <strong class="timeline-who">{entry.who}</strong> <span class="timeline-what">{entry.what}</span>
    </p>
    {entry.why ? (
      <p class="timeline-why">
        {entry.why.code ? (
          <>
            <code>{entry.why.code}</code>{' '}
          </>
        ) : null}
        <span>{entry.why.text}</span>
      </p>
    ) : null}
    <details>
      <summary>{entry.label} (JSON)</summary>
      <pre>{JSON.stringify(entry.events.length === 1 ? entry.events[0] : entry.events, null, 2)}</pre>
    </details>
  </li>
)

export const RunTimeline: FC<{ runId: string; window: TimelineWindow; live: boolean }> = ({ runId, window, live }) => {
  const page = (before: number | null) => (before === null ? `${consolePaths.run(runId)}#run-timeline` : `${consolePaths.run(runId)}?eventsBefore=${before}#run-timeline`)
  return (
    <section class="card" aria-labelledby="timeline-title" id="run-timeline">
      <h2 id="timeline-title">Timeline</h2>
      <p class="hint" id="run-timeline-range">
        {window.from === 0 && window.latest
          ? `Every event of the run (${window.total}).`
          : `Events ${window.from + 1} to ${window.to} of ${window.total}.`}{' '}
        {live && window.latest ? 'New events appear as they happen.' : null}
      </p>
      {window.earlierBefore !== null ? (
        <p>
          <a href={page(window.earlierBefore)} id="run-timeline-earlier">
            Earlier events
          </a>
        </p>
      ) : null}
      <ol
        class="timeline"
        id="run-timeline-entries"
        data-follow={live && window.latest ? 'true' : 'false'}
        data-last-revision={String(window.to - 1)}
        data-window={String(TIMELINE_WINDOW)}
      >
        {window.entries.map((entry) => (
          <TimelineItem entry={entry} />
        ))}
      </ol>
      {!window.latest ? (
        <p>
          <a href={page(window.laterBefore)} id="run-timeline-later">
            {window.laterBefore === null ? 'Latest events' : 'Later events'}
          </a>
        </p>
      ) : null}
    </section>
  )
}
