/** The permission bits no file or directory the service creates may give away: group's and other users'. */
export const NOT_FOR_OTHERS = 0o077

/**
 * Makes every file and directory this process creates from now on its user's only, by adding
 * `NOT_FOR_OTHERS` to the process's umask (a stricter one the operator set is kept). A service started
 * with umask 000 (a bare container, a careless unit) otherwise creates directories 0777 and files 0666
 * wherever a library leaves the mode to the umask: PGlite's directories under DATA_DIR were (issue 7).
 * Files that ask for a mode themselves (DATA_DIR/demo-operator.txt, 0600) are only made safer by it;
 * PGlite's first ~970 files, which it chmods to 0666 itself, are tightened where the database is opened
 * (`keepTreePrivate` in db/database.ts).
 *
 * Process-wide, so called where a process starts (main.ts, rebuild-projections.ts), not by a library
 * function. Returns the umask it replaced.
 */
export function keepCreatedFilesPrivate(): number {
  // umask() sets as it reads: set once to learn the old mask, then to the old mask widened.
  const previous = process.umask(NOT_FOR_OTHERS)
  process.umask(previous | NOT_FOR_OTHERS)
  return previous
}
