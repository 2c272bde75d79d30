import type { Part } from '../lib/part.js'
export const rebuildPart: Part = { name: 'rebuild', summary: 'TODO', async run() { return {} } }
