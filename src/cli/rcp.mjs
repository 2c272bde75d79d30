#!/usr/bin/env node
// The `rcp` executable (package.json "bin"). In a checkout (tsx installed) it runs the TypeScript CLI,
// registering tsx from this package wherever the shell's working directory is, so it never runs a stale
// build; where only the production dependencies are installed it runs the compiled one (dist/, made by
// `npm run build` in a full install, as the image's build stage does).
let register = null
try {
  ;({ register } = await import('tsx/esm/api'))
} catch (error) {
  if (error?.code !== 'ERR_MODULE_NOT_FOUND') throw error
}
let run
let endQuietlyWhenOutputCloses
if (register) {
  register()
  ;({ run, endQuietlyWhenOutputCloses } = await import('./main.ts'))
} else {
  const compiled = new URL('../../dist/cli/main.js', import.meta.url)
  try {
    ;({ run, endQuietlyWhenOutputCloses } = await import(compiled.href))
  } catch (error) {
    if (error?.code !== 'ERR_MODULE_NOT_FOUND') throw error
    console.error('rcp: neither tsx (a development install) nor the compiled CLI (dist/, `npm run build` in a full install) is here')
    process.exit(5)
  }
}
endQuietlyWhenOutputCloses()
process.exitCode = await run(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  stdin: process.stdin,
})
