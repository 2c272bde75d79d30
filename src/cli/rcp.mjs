#!/usr/bin/env node
// The `rcp` executable (package.json "bin"). In a checkout (tsx installed) it runs the TypeScript CLI,
// registering tsx from this package wherever the shell's working directory is, so it never runs a stale
// build; where only the production dependencies are installed it runs the compiled one (`npm run build`).
// Output piped into a reader that stopped (`rcp runs | head`) ends the CLI quietly, as Unix tools do.
process.stdout.on('error', (error) => {
  if (error.code === 'EPIPE') process.exit(0)
  throw error
})

let run
try {
  const { register } = await import('tsx/esm/api')
  register()
  ;({ run } = await import('./main.ts'))
} catch (error) {
  if (error?.code !== 'ERR_MODULE_NOT_FOUND') throw error
  ;({ run } = await import(new URL('../../dist/cli/main.js', import.meta.url).href))
}
process.exitCode = await run(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  stdin: process.stdin,
})
