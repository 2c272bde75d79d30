import type { Part } from '../lib/part.js'
export const embeddedPart: Part = { name: 'embedded', summary: 'TODO', async run() { return {} } }
