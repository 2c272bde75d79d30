/**
 * A sender in a process of its own (for the two-process test): delivers what is due in DATABASE_URL until
 * nothing is, then prints how many deliveries it claimed and exits.
 */
import pino from 'pino'
import { AlertSender } from '../../src/alerts/alert-sender.js'
import { connectPostgres } from '../../src/db/database.js'

const db = await connectPostgres(process.env.DATABASE_URL!)
const sender = new AlertSender({ sql: db.sql, logger: pino({ level: 'silent' }), hostPolicy: null, serviceBaseUrl: () => null, batchSize: 3 })
let claimed = 0
for (;;) {
  const sent = await sender.runOnce()
  if (sent === 0) break
  claimed += sent
}
process.stdout.write(`${JSON.stringify({ claimed })}\n`)
await db.close()
