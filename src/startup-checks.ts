// Startup checks: what start finds wrong becomes a StartupError naming the variable to fix and the path it led to.
import { randomBytes } from 'node:crypto'
import { mkdir, open, unlink } from 'node:fs/promises'
import path from 'node:path'
import type { Config } from './config'
import { StartupError } from './errors'
import type { TlsMaterialFiles } from './http/tls-reloader'

/** A file the server reads at start, and the variable an operator changes to fix it. */
export interface NamedFile {
  readonly variable: string
  readonly file: string
}

export interface Blame {
  /** Errors whose message starts with "<file>: " (the convention of every file reader here) name that file. */
  readonly files?: readonly NamedFile[]
  /** Any other failure of the step, except a programming error, is blamed on this. */
  readonly otherwise?: { readonly variable: string; readonly path?: string | undefined }
}

/**
 * Every file start reads; the first match wins, so CERT_PATH's files come before the trusts that default to
 * its ca.crt (an unset CUPS_TRUST_PATH is not what the operator has to fix).
 */
export function startupFiles(config: Config): NamedFile[] {
  const { tls, cups } = config
  const certFiles = [tls.caCertFile, tls.caKeyFile, tls.serverCertFile, tls.serverKeyFile, tls.previousCaCertFile]
  return [
    ...certFiles.map((file) => ({ variable: 'CERT_PATH', file })),
    { variable: 'CUPS_TRUST_PATH', file: tls.cupsTrustFile },
    { variable: 'TC_TRUST_PATH', file: tls.tcTrustFile },
    ...(cups.bootstrapCaFile === undefined ? [] : [{ variable: 'BOOTSTRAP_CA_PATH', file: cups.bootstrapCaFile }]),
    ...('file' in cups.bootstrapAllowlist ? [{ variable: 'BOOTSTRAP_ALLOWLIST', file: cups.bootstrapAllowlist.file }] : []),
    ...(cups.lnsCa === undefined
      ? []
      : [
          { variable: 'LNS_CA_CERT_PATH', file: cups.lnsCa.certFile },
          { variable: 'LNS_CA_KEY_PATH', file: cups.lnsCa.keyFile },
        ]),
  ]
}

/** The files of the server's TLS context: what readTlsMaterial reads at start and on every reload. */
export function serverTlsFiles(config: Config): TlsMaterialFiles {
  const { tls, cups } = config
  return {
    serverCertFile: tls.serverCertFile,
    serverKeyFile: tls.serverKeyFile,
    clientCaFiles: [tls.caCertFile, ...(cups.bootstrapCaFile === undefined ? [] : [cups.bootstrapCaFile])],
    // During a CA rotation the previous CA still vouches for the certificates gateways hold.
    optionalClientCaFiles: [tls.previousCaCertFile],
    relatedFiles: [tls.cupsTrustFile, tls.tcTrustFile],
  }
}

/** Runs one step of start; a failure it can blame comes out as a StartupError, anything else unchanged. */
export async function startupStep<T>(step: () => T | Promise<T>, blame: Blame): Promise<T> {
  try {
    return await step()
  } catch (err) {
    throw toStartupError(err, blame)
  }
}

export function toStartupError(err: unknown, blame: Blame): unknown {
  if (!(err instanceof Error) || err instanceof StartupError || isProgrammingError(err)) return err
  for (const { variable, file } of blame.files ?? []) {
    if (err.message.startsWith(`${file}: `)) {
      return new StartupError(variable, file, err.message.slice(file.length + 2), { cause: err })
    }
  }
  const { otherwise } = blame
  if (otherwise === undefined) return err
  return new StartupError(otherwise.variable, otherwise.path, problemOf(err, otherwise.path), { cause: err })
}

/** A failed system call in a few words ("cannot be read (ENOENT)"), or the message of any other error. */
export function problemOf(err: Error, blamedPath?: string): string {
  const { code, syscall, path: file } = err as NodeJS.ErrnoException
  if (code === undefined || syscall === undefined) return err.message
  const what = syscall === 'open' || syscall === 'read' ? 'cannot be read' : `${syscall} failed`
  return file === undefined || file === blamedPath ? `${what} (${code})` : `${what} on ${file} (${code})`
}

/**
 * The filesystem store would otherwise fail at the first gateway's request, answered "no change" forever:
 * create the directory, then write, fsync and delete a probe file (dot-named, so no listing ever sees it).
 */
export async function probeWritableDirectory(variable: string, dir: string): Promise<void> {
  const probe = path.join(dir, `.write-probe-${randomBytes(6).toString('hex')}`)
  let problem = 'cannot be created'
  let created = false
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 })
    problem = 'is not writable'
    const handle = await open(probe, 'wx', 0o600)
    created = true
    try {
      await handle.writeFile('probe\n')
      problem = 'cannot sync a file to disk'
      await handle.sync()
    } finally {
      await handle.close()
    }
    problem = 'lets a file be written but not deleted'
    await unlink(probe)
    created = false
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message
    if (created) await unlink(probe).catch(() => undefined)
    // mkdir -p reports a regular file in the way as EEXIST (or ENOTDIR for a parent).
    if (problem === 'cannot be created' && (code === 'EEXIST' || code === 'ENOTDIR')) problem = 'is not a directory'
    throw new StartupError(variable, dir, `${problem} (${code})`, { cause: err })
  }
}

/** Listen failures an operator causes, named by the variable that fixes them; anything else unchanged. */
export function listenError(err: unknown, host: string, port: number, variables = { host: 'HOST', port: 'PORT' }): unknown {
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  const where = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
  switch (code) {
    case 'EADDRINUSE':
      return new StartupError(variables.port, where, 'is already in use (EADDRINUSE)', { cause: err })
    case 'EACCES':
      return new StartupError(variables.port, where, 'may not be bound by this user (EACCES; ports below 1024 need privileges)', { cause: err })
    case 'EADDRNOTAVAIL':
      return new StartupError(variables.host, where, 'is not an address of this machine (EADDRNOTAVAIL)', { cause: err })
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new StartupError(variables.host, host, `cannot be resolved (${code})`, { cause: err })
    default:
      return err
  }
}

/** These come from our own code, not from the environment, and keep their stack. */
function isProgrammingError(err: Error): boolean {
  return err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError || err instanceof SyntaxError
}
