import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/**
 * vitest globalSetup of the fault suite: compiles the service once (`npm run build` → dist/), so the roles
 * run as production runs them — `node dist/main.js`, no tsx — and boot faster after each kill.
 */
export default function buildOnce(): void {
  execFileSync('npm', ['run', 'build'], { cwd: fileURLToPath(new URL('../../..', import.meta.url)), stdio: 'inherit' })
}
