import parsePrometheusTextFormat from 'parse-prometheus-text-format'

export type Families = ReturnType<typeof parsePrometheusTextFormat>

/** The scrape parsed by a Prometheus text-format parser (prom2json's shape), families by name. */
export function parseScrape(text: string): Map<string, Families[number]> {
  return new Map(parsePrometheusTextFormat(text).map((family) => [family.name, family]))
}

/**
 * The value of the one sample of `name` whose labels are exactly `labels`; undefined when there is none.
 * (Histograms: the parser keeps only an unlabelled one's buckets, sum and count — see `histogramOf`.)
 */
export function sampleValue(families: Map<string, Families[number]>, name: string, labels: Record<string, string> = {}): number | undefined {
  const family = families.get(name)
  const sample = family?.metrics.find((m) => sameLabels(m.labels ?? {}, labels))
  return sample?.value === undefined ? undefined : Number(sample.value)
}

/** The samples of a family with their labels and values. */
export function samplesOf(families: Map<string, Families[number]>, name: string): Array<{ labels: Record<string, string>; value: number }> {
  return (families.get(name)?.metrics ?? []).map((m) => ({ labels: m.labels ?? {}, value: Number(m.value) }))
}

/** An unlabelled histogram: its cumulative buckets by upper bound, count and sum. */
export function histogramOf(families: Map<string, Families[number]>, name: string): { buckets: Record<string, number>; count: number; sum: number } | undefined {
  const family = families.get(name)
  const sample = family?.type === 'HISTOGRAM' ? family.metrics[0] : undefined
  if (!sample?.buckets) return undefined
  return {
    buckets: Object.fromEntries(Object.entries(sample.buckets).map(([le, value]) => [le, Number(value)])),
    count: Number(sample.count),
    sum: Number(sample.sum),
  }
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a)
  return keys.length === Object.keys(b).length && keys.every((key) => a[key] === b[key])
}
