import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

/** Every file and directory under `root` (itself included) that its group or other users may read, write or enter, with its mode in octal. */
export function openToOthers(root: string): string[] {
  const found: string[] = []
  const visit = (path: string) => {
    const stat = statSync(path)
    if ((stat.mode & 0o077) !== 0) found.push(`${path} ${(stat.mode & 0o777).toString(8)}`)
    if (stat.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name))
  }
  visit(root)
  return found
}
