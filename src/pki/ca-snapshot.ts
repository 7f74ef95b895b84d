// CaSnapshot: a private copy of the CA the server has adopted, so a mint never uses files a reload refused.
import { X509Certificate } from 'node:crypto'
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

export class CaSnapshot {
  readonly certPath: string
  readonly keyPath: string

  private constructor(private readonly dir: string) {
    this.certPath = path.join(dir, 'ca.crt')
    this.keyPath = path.join(dir, 'ca.key')
  }

  /** A new private directory (0700) holding the given CA. */
  static async create(caDer: Buffer, caKeyPem: Buffer): Promise<CaSnapshot> {
    const snapshot = new CaSnapshot(await mkdtemp(path.join(os.tmpdir(), 'cups-ca-')))
    await snapshot.write(caDer, caKeyPem)
    return snapshot
  }

  /** Replaces both files, each by rename, so a mint reads an old or a new file, never a partial one. */
  async write(caDer: Buffer, caKeyPem: Buffer): Promise<void> {
    for (const [file, content] of [
      [this.keyPath, caKeyPem],
      [this.certPath, Buffer.from(new X509Certificate(caDer).toString())],
    ] as const) {
      const temp = `${file}.tmp`
      await writeFile(temp, content, { mode: 0o600 })
      await rename(temp, file)
    }
  }

  remove(): Promise<void> {
    return rm(this.dir, { recursive: true, force: true })
  }
}
