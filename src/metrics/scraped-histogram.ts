/**
 * A histogram whose buckets are read at scrape time (prom-client's Histogram only counts observations made
 * in this process). Registered as a prom-client metric: the registry asks `get()` for the family.
 */
export interface HistogramReading {
  /** Cumulative: `counts[i]` observations were at most `buckets[i]`. */
  counts: number[]
  count: number
  sumSeconds: number
}

export class ScrapedHistogram {
  readonly type = 'histogram'
  readonly aggregator = 'sum'

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: readonly number[],
    private readonly read: () => Promise<HistogramReading | null>,
  ) {}

  async get() {
    const reading = await this.read()
    const values = reading
      ? [
          ...this.buckets.map((bound, index) => ({ metricName: `${this.name}_bucket`, labels: { le: bound }, value: reading.counts[index] ?? 0 })),
          { metricName: `${this.name}_bucket`, labels: { le: '+Inf' }, value: reading.count },
          { metricName: `${this.name}_sum`, labels: {}, value: reading.sumSeconds },
          { metricName: `${this.name}_count`, labels: {}, value: reading.count },
        ]
      : []
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values }
  }

  /** The registry's `resetMetrics()`: nothing is kept here to reset. */
  reset(): void {}
}
