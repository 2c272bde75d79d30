import { builtInRunbooks } from '../../src/runbooks/built-in-runbooks.js'
import { createRunbookCatalog } from '../../src/runbooks/catalog.js'

/** The catalog the service composes by default, for tests that call commands, routes or workers directly. */
export const testCatalog = createRunbookCatalog(builtInRunbooks)
