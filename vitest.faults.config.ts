import { defineConfig } from 'vitest/config'

/**
 * The fault suite (`npm run test:faults`): the service's roles as separate processes against a PostgreSQL
 * cluster and a nats-server of the suite's own (spare ports), one fault per scenario. Scenarios kill and
 * restart those servers, so they run one at a time in one worker.
 */
export default defineConfig({
  test: {
    include: ['test/faults/**/*.test.ts'],
    // The roles run compiled, as in production: built once before the scenarios.
    globalSetup: ['test/faults/support/build-once.ts'],
    testTimeout: 300_000,
    hookTimeout: 180_000,
    fileParallelism: false,
    maxWorkers: 1,
    // The scenarios print their FAULT lines and, on failure, the processes' log tails.
    silent: false,
  },
})
