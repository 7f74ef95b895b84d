// runCli: the operator command line (commander), one exit status per outcome, on the server's own storage.
import { Command, CommanderError } from 'commander'
import { loadConfig } from '../config'
import type { Config } from '../config'
import { ConfigError } from '../errors'
import { createLogger } from '../logger'
import type { BlobStore } from '../storage/blob-store'
import { createBlobStore } from '../storage/create-blob-store'
import type { CliDeps, CliOutput } from './cli-deps'
import { addDoctorCommand } from './doctor-command'
import { addFirmwareCommands } from './firmware-commands'
import { addGatewayCommands } from './gateway-commands'

export interface CliIo {
  readonly env: Readonly<Record<string, string | undefined>>
  readonly cwd?: string
  readonly stdout: CliOutput
  readonly stderr: CliOutput
  readonly now?: () => Date
}

/** Exit statuses (README "Operator CLI"): 1 = the command ran and failed (or found a failure), 2 = it could not run as asked. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const

/** Thrown by a command that has printed its own findings and must exit non-zero (doctor, import with bad rows). */
export class ExitStatus extends Error {
  constructor(readonly status: number) {
    super(`exit status ${String(status)}`)
  }
}

const QUIET = { info: () => undefined, warn: () => undefined }

/** Runs one command; resolves to its exit status and never throws. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  // The configuration is read only by commands that need it, so --help works with a broken .env.
  let config: Config | undefined
  let store: BlobStore | undefined
  const deps: CliDeps = {
    config: () => (config ??= loadConfig(io.env, io.cwd)),
    store: () => (store ??= createBlobStore(deps.config().storage, QUIET)),
    audit: () => createLogger('info', { write: (line: string) => io.stderr.write(line) }),
    now: io.now ?? (() => new Date()),
    cwd: io.cwd ?? process.cwd(),
    stdout: io.stdout,
    stderr: io.stderr,
  }
  const program = new Command('cups-server')
    .description('Operator commands for the CUPS server: they work on its storage (filesystem or S3), with or without the server running.')
    .exitOverride()
    .configureOutput({ writeOut: (text) => io.stdout.write(text), writeErr: (text) => io.stderr.write(text) })
  addGatewayCommands(program, deps)
  addFirmwareCommands(program, deps)
  addDoctorCommand(program, deps)
  try {
    await program.parseAsync([...argv], { from: 'user' })
    return EXIT.ok
  } catch (err) {
    if (err instanceof ExitStatus) return err.status
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage
    if (err instanceof ConfigError) {
      io.stderr.write(`${err.message}\n`)
      return EXIT.usage
    }
    io.stderr.write(`cups-server: ${(err as Error).message}\n`)
    return EXIT.failed
  }
}
