// The parser ships no types: the shape of what it returns (prom2json's).
declare module 'parse-prometheus-text-format' {
  interface ParsedSample {
    labels?: Record<string, string>
    value?: string
    buckets?: Record<string, string>
    count?: string
    sum?: string
  }
  interface ParsedFamily {
    name: string
    help: string
    type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED'
    metrics: ParsedSample[]
  }
  function parsePrometheusTextFormat(text: string): ParsedFamily[]
  export default parsePrometheusTextFormat
}
