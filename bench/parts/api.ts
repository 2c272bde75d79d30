import type { Part } from '../lib/part.js'
export const apiPart: Part = { name: 'api', summary: 'TODO', async run() { return {} } }
