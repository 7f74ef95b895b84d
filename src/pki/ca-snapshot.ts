// CaSnapshot: the CA the server adopted, so a mint never uses files a reload refused and no copy of its key outlives us.
import { X509Certificate } from 'node:crypto'
import { closeSync, fstatSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs'
import type { Stats } from 'node:fs'
import { lstat, readdir, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'

/** The CA as the in-process engine takes it; write() makes a new object, so identity is the version. */
export interface CaMaterial {
  /** DER. */
  readonly certificate: Buffer
  /** Unencrypted PEM, as read from the CA key file. */
  readonly keyPem: Buffer
}

/** What one OpenSSL child needs: its -CA and -CAkey arguments and the descriptors behind them. */
export interface CaFileLease {
  readonly certPath: string
  readonly keyPath: string
  /** spawn's stdio entries from index 3 on; empty when the paths name real files. */
  readonly fds: readonly number[]
  /** Call once the child has exited: a replaced version is closed when its last lease goes. */
  release(): void
}

export interface CaSnapshotOptions {
  /** Swept for stale copies, and home of the names that exist for microseconds; default os.tmpdir(). */
  readonly tmpRoot?: string
  /** Named files even where /proc/self/fd works: the fallback for other systems, forced for tests. */
  readonly namedFiles?: boolean
}

/** Every directory we make starts so; ours also carry our pid, the versions before anonymous files did not. */
export const CA_DIR_PREFIX = 'cups-ca-'
/** Exactly what mkdtemp makes of the prefix (six characters), so a look-alike such as cups-ca-backup stays. */
const OUR_DIR = /^cups-ca-(?:(\d+)-)?[A-Za-z0-9]{6}$/

// The child's fd 3 and 4 (stdio order). On Linux, opening /proc/self/fd/N opens the file afresh (own
// offset, read-only here), so concurrent children never share a read position.
const CHILD_CERT_PATH = '/proc/self/fd/3'
const CHILD_KEY_PATH = '/proc/self/fd/4'

/**
 * Linux: the certificate and key are files without a name (created, reopened read-only and unlinked
 * with their directory in one synchronous step); the kernel frees them with our last descriptor, also
 * on kill -9. OpenSSL children get the descriptors; the in-process engine gets the bytes.
 * Elsewhere (macOS has no reopening /proc/self/fd): named files in a 0700 directory, removed on
 * remove() and on process exit, and swept at the next start after a crash.
 */
export class CaSnapshot {
  private current: Version
  /** Versions not closed yet (the current one, replaced ones still leased), so remove() closes them all. */
  private readonly live = new Set<Version>()
  private removed = false
  private readonly onExit = (): void => {
    this.closeAll()
  }

  private constructor(
    private readonly root: string,
    private readonly named: boolean,
    caDer: Buffer,
    caKeyPem: Buffer,
  ) {
    this.current = this.version(caDer, caKeyPem)
    // remove() is async in name only; an exit without it (process.exit, a crash) still deletes named files.
    if (named) process.on('exit', this.onExit)
  }

  /** Sweeps copies dead processes left in tmpRoot, then holds the given CA. */
  static async create(caDer: Buffer, caKeyPem: Buffer, options: CaSnapshotOptions = {}): Promise<CaSnapshot> {
    const root = options.tmpRoot ?? os.tmpdir()
    await sweepStale(root)
    return new CaSnapshot(root, options.namedFiles === true || !anonymousFilesWork(root), caDer, caKeyPem)
  }

  /**
   * Switches to a new CA for every mint that starts from now on. The new version is complete before
   * the switch, so a mint reads the old pair or the new pair, never half of one.
   */
  write(caDer: Buffer, caKeyPem: Buffer): Promise<void> {
    // The switch is synchronous; the promise carries a failure to the caller, who logs it.
    return new Promise((resolve) => {
      if (this.removed) throw new Error('the CA snapshot was removed')
      const previous = this.current
      this.current = this.version(caDer, caKeyPem)
      previous.retire()
      resolve()
    })
  }

  /** For the in-process engine: no file involved at all. */
  material(): CaMaterial {
    return this.current.material
  }

  /** For one OpenSSL child, from before it is spawned until it has exited. */
  lease(): CaFileLease {
    if (this.removed) throw new Error('the CA snapshot was removed')
    return this.current.lease()
  }

  /** Closes (or, for named files, deletes) every version, leased or not: called once nothing mints. */
  remove(): Promise<void> {
    this.removed = true
    process.off('exit', this.onExit)
    this.closeAll()
    return Promise.resolve()
  }

  private closeAll(): void {
    for (const version of this.live) version.close()
  }

  private version(caDer: Buffer, caKeyPem: Buffer): Version {
    const certPem = Buffer.from(new X509Certificate(caDer).toString())
    const files = this.named ? namedFiles(this.root, certPem, caKeyPem) : anonymousFiles(this.root, certPem, caKeyPem)
    const version = new Version({ certificate: caDer, keyPem: caKeyPem }, files, () => this.live.delete(version))
    this.live.add(version)
    return version
  }
}

interface VersionFiles {
  readonly certPath: string
  readonly keyPath: string
  readonly fds: readonly number[]
  dispose(): void
}

/** One adopted CA and what backs it on the file side, closed once replaced and no longer leased. */
class Version {
  private leases = 0
  private retired = false
  private closed = false

  constructor(
    readonly material: CaMaterial,
    private readonly files: VersionFiles,
    private readonly onClosed: () => void,
  ) {}

  lease(): CaFileLease {
    this.leases++
    let released = false
    return {
      certPath: this.files.certPath,
      keyPath: this.files.keyPath,
      fds: this.files.fds,
      release: () => {
        if (released) return
        released = true
        this.leases--
        if (this.retired && this.leases === 0) this.close()
      },
    }
  }

  retire(): void {
    this.retired = true
    if (this.leases === 0) this.close()
  }

  /** Exactly once: closing a descriptor number twice could close a file opened since under that number. */
  close(): void {
    if (this.closed) return
    this.closed = true
    this.files.dispose()
    this.onClosed()
  }
}

/** A 0700 directory whose name carries our pid, so another process's sweep leaves it alone while we live. */
function privateDir(root: string): string {
  return mkdtempSync(path.join(root, `${CA_DIR_PREFIX}${process.pid}-`))
}

/**
 * Synchronous on purpose: between creating a name and unlinking it nothing else of ours runs, so the
 * names exist for microseconds. No fsync: the data is never needed after we die, and a flush would
 * only put key bytes on the disk.
 */
function anonymousFiles(root: string, certPem: Buffer, keyPem: Buffer): VersionFiles {
  const dir = privateDir(root)
  const fds: number[] = []
  try {
    for (const [name, content] of [['ca.crt', certPem], ['ca.key', keyPem]] as const) {
      const file = path.join(dir, name)
      // 0400 as well as a read-only descriptor: reopening through /proc checks the mode, not the descriptor.
      writeFileSync(file, content, { mode: 0o400, flag: 'wx' })
      fds.push(openSync(file, 'r'))
    }
  } catch (err) {
    for (const fd of fds) closeSync(fd)
    throw err
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  const dispose = (): void => {
    for (const fd of fds) closeSync(fd)
  }
  return { certPath: CHILD_CERT_PATH, keyPath: CHILD_KEY_PATH, fds, dispose }
}

/** The fallback: each version in its own directory, so a lease always names a matching pair. */
function namedFiles(root: string, certPem: Buffer, keyPem: Buffer): VersionFiles {
  const dir = privateDir(root)
  const certPath = path.join(dir, 'ca.crt')
  const keyPath = path.join(dir, 'ca.key')
  try {
    writeFileSync(certPath, certPem, { mode: 0o400, flag: 'wx' })
    writeFileSync(keyPath, keyPem, { mode: 0o400, flag: 'wx' })
  } catch (err) {
    rmSync(dir, { recursive: true, force: true })
    throw err
  }
  const dispose = (): void => {
    rmSync(dir, { recursive: true, force: true })
  }
  return { certPath, keyPath, fds: [], dispose }
}

/** Whether an anonymous file can be reopened through /proc/self/fd, as OpenSSL children will. */
function anonymousFilesWork(root: string): boolean {
  if (process.platform !== 'linux') return false
  let probe: VersionFiles | undefined
  try {
    probe = anonymousFiles(root, Buffer.from('probe'), Buffer.from('probe'))
    const fd = probe.fds[0] ?? -1
    const reopened = openSync(`/proc/self/fd/${fd}`, 'r')
    try {
      return fstatSync(reopened).ino === fstatSync(fd).ino
    } finally {
      closeSync(reopened)
    }
  } catch {
    return false
  } finally {
    probe?.dispose()
  }
}

/**
 * Removes what a killed or crashed process left in root: names as we make them, directories our uid
 * owns, not tagged with the pid of a live process (a replica on this host, or us). Directories of
 * versions before anonymous files (cups-ca-XXXXXX, no pid) held the key for the process's lifetime:
 * always swept, also under a replica of such a version still running here (it must be restarted).
 */
async function sweepStale(root: string): Promise<void> {
  const uid = process.getuid?.()
  for (const name of await readdir(root)) {
    const match = OUR_DIR.exec(name)
    if (match === null) continue
    const dir = path.join(root, name)
    const stats = await lstat(dir).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw err
    })
    if (stats?.isDirectory() !== true || (uid !== undefined && stats.uid !== uid)) continue
    if (inUse(Number(match[1] ?? 0), stats)) continue
    await rm(dir, { recursive: true, force: true })
  }
}

/** Tagged by a live process: another pid that exists, or ours if made since we started (a container reuses pids). */
function inUse(pid: number, stats: Stats): boolean {
  if (pid <= 0) return false
  if (pid === process.pid) return stats.mtimeMs >= Date.now() - process.uptime() * 1000
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // EPERM: alive, someone else's (a pid reused since); ESRCH: gone.
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}
