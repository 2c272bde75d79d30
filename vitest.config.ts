import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'test/**/*.test.tsx'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Suites share one PostgreSQL server and one NATS server; each suite creates its own database/stream names.
    fileParallelism: true,
    maxWorkers: 2,
  },
})
