import { afterEach, describe, expect, it } from 'vitest'
import { keepCreatedFilesPrivate, NOT_FOR_OTHERS } from '../src/private-files.js'

/** Issue 7: the service's files are its user's only, whatever umask it was started with. */
describe.skipIf(process.platform === 'win32')('keepCreatedFilesPrivate', () => {
  // vitest's worker is shared by the test files it runs: its umask is put back after each test.
  const started = process.umask(0o022)
  process.umask(started)
  afterEach(() => {
    process.umask(started)
  })

  it('takes group and other permissions away from an open umask, and returns the umask it replaced', () => {
    process.umask(0)
    expect(keepCreatedFilesPrivate()).toBe(0)
    expect(process.umask(0)).toBe(NOT_FOR_OTHERS)
    process.umask(0o022)
    expect(keepCreatedFilesPrivate()).toBe(0o022)
    expect(process.umask(0)).toBe(0o077)
  })

  it('keeps a stricter umask the operator set', () => {
    process.umask(0o277)
    keepCreatedFilesPrivate()
    expect(process.umask(0)).toBe(0o277)
  })
})
