import type { FC } from 'hono/jsx'

type Tone = 'neutral' | 'info' | 'ok' | 'warn' | 'danger'

/** Colour per status/outcome word; the word is always shown too (never colour alone). */
export const badgeTones: Record<string, Tone> = {
  queued: 'neutral',
  running: 'info',
  paused: 'warn',
  awaiting_approval: 'neutral',
  completed: 'neutral',
  pending: 'neutral',
  succeeded: 'ok',
  partially_succeeded: 'warn',
  failed: 'danger',
  blocked: 'danger',
  cancelled: 'warn',
  rejected: 'danger',
  /** SPEC §11 canary state (`running` and `failed` as above). */
  passed: 'ok',
}

export function badgeWord(value: string): string {
  return value.replaceAll('_', ' ')
}

export const Badge: FC<{ value: string; id?: string; kind: 'status' | 'outcome' | 'tenant' | 'canary' }> = ({ value, id, kind }) => (
  <span id={id} class={`badge ${badgeTones[value] ?? 'neutral'}`} data-badge={kind}>
    {badgeWord(value)}
  </span>
)
