#!/usr/bin/env node
// The `rcp` executable (package.json "bin"): registers tsx from this package, wherever the shell's
// working directory is, then runs the TypeScript CLI.
import { register } from 'tsx/esm/api'

register()
const { run } = await import('./main.ts')
process.exitCode = await run(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  stdin: process.stdin,
})
