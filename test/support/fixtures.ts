// Where the captures of a real Basics Station 2.0.6 live: shared/ beside the repository, or FIXTURES_DIR.
import { readFileSync } from 'node:fs'
import path from 'node:path'

const repoRoot = path.resolve(__dirname, '..', '..')

export function fixturesDir(): string {
  const fromEnv = process.env.FIXTURES_DIR
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : path.resolve(repoRoot, '..', 'shared', 'fixtures', 'basicstation-2.0.6')
}

/** A fixture file's bytes; name is relative to fixturesDir(), e.g. 'tc-files-written/tc.key'. */
export function readFixture(name: string): Buffer {
  return readFileSync(path.join(fixturesDir(), name))
}
