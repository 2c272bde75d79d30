/**
 * What the dependency adapters loaded in this process know of their clients' errors: each registers, as its
 * module loads, a recogniser that answers the code of an error meaning its dependency cannot be reached
 * right now (or null). An adapter's client is then loaded only by the adapter: the embedded default loads
 * neither NATS's nor EventStoreDB's (tens of MiB), and no error of theirs can reach it.
 */
export type OutageRecogniser = (error: unknown) => string | null

const recognisers: OutageRecogniser[] = []

export function recogniseOutages(recogniser: OutageRecogniser): void {
  recognisers.push(recogniser)
}

/** The code a loaded adapter gives `error` (not its causes), or null. */
export function adapterOutageCodeOf(error: unknown): string | null {
  for (const recognise of recognisers) {
    const code = recognise(error)
    if (code !== null) return code
  }
  return null
}
