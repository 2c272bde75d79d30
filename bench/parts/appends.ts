import type { Part } from '../lib/part.js'
export const appendsPart: Part = { name: 'appends', summary: 'TODO', async run() { return {} } }
