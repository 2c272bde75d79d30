import type { Part } from '../lib/part.js'
export const workersPart: Part = { name: 'workers', summary: 'TODO', async run() { return {} } }
