// writeOutputFiles: files a command leaves in a directory for the operator: each one atomic, none over different content unless forced.
import { randomBytes } from 'node:crypto'
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises'
import path from 'node:path'

export interface OutputFile {
  readonly name: string
  readonly content: Buffer
}

export interface WrittenFile {
  readonly name: string
  readonly path: string
  /** unchanged: the file already held exactly these bytes and was left alone. */
  readonly outcome: 'written' | 'replaced' | 'unchanged'
}

/**
 * Creates dir if needed. Every existing file is compared before anything is written, so a refusal (an Error
 * naming the file) leaves the directory as it was. Each file is written to a temp name in dir, synced and
 * renamed over its name: a reader (an image build, a station) sees the old file or the new one, never a part.
 */
export async function writeOutputFiles(dir: string, files: readonly OutputFile[], options: { readonly force: boolean }): Promise<WrittenFile[]> {
  await mkdir(dir, { recursive: true })
  const plans = await Promise.all(
    files.map(async (file) => {
      const target = path.join(dir, file.name)
      const existing = await readIfPresent(target)
      const outcome: WrittenFile['outcome'] = existing === undefined ? 'written' : existing.equals(file.content) ? 'unchanged' : 'replaced'
      return { file, target, outcome }
    }),
  )
  const conflicts = plans.filter((plan) => plan.outcome === 'replaced')
  if (conflicts.length > 0 && !options.force) {
    const names = conflicts.map(({ target }) => target).join(', ')
    throw new Error(`${names} ${conflicts.length === 1 ? 'exists' : 'exist'} with different content; --force replaces ${conflicts.length === 1 ? 'it' : 'them'}`)
  }
  for (const { file, target, outcome } of plans) if (outcome !== 'unchanged') await writeAtomically(target, file.content)
  return plans.map(({ file, target, outcome }) => ({ name: file.name, path: target, outcome }))
}

async function writeAtomically(target: string, content: Buffer): Promise<void> {
  const temp = path.join(path.dirname(target), `.${path.basename(target)}.tmp-${randomBytes(6).toString('hex')}`)
  try {
    const handle = await open(temp, 'wx', 0o644)
    try {
      await handle.writeFile(content)
      await handle.sync()
    } finally {
      await handle.close()
    }
    await rename(temp, target)
  } finally {
    // Gone after the rename; after a failure it must not stay behind.
    await unlink(temp).catch(() => undefined)
  }
}

async function readIfPresent(file: string): Promise<Buffer | undefined> {
  try {
    return await readFile(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}
