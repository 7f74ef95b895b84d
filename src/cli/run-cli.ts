// runCli: the operator command line (commander), one exit status per outcome, on the server's own storage.
import { Command, CommanderError } from 'commander'
import { loadConfig } from '../config'
import type { Config } from '../config'
import { ConfigError } from '../errors'
import { addGatewayCommands } from './gateway-commands'

export interface CliIo {
  readonly env: Readonly<Record<string, string | undefined>>
  readonly cwd?: string
  readonly stdout: { write(text: string): unknown }
  readonly stderr: { write(text: string): unknown }
}

/** Exit statuses (README "Operator CLI"). */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const

/** Runs one command; resolves to its exit status and never throws. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  // The configuration is read only by commands that need it, so --help works with a broken .env.
  let config: Config | undefined
  const configOf = (): Config => (config ??= loadConfig(io.env, io.cwd))
  const program = new Command('cups-server')
    .description('Operator commands for the CUPS server: they work on its storage, with or without the server running.')
    .exitOverride()
    .configureOutput({ writeOut: (text) => io.stdout.write(text), writeErr: (text) => io.stderr.write(text) })
  addGatewayCommands(program, { config: configOf, stdout: io.stdout, stderr: io.stderr })
  try {
    await program.parseAsync([...argv], { from: 'user' })
    return EXIT.ok
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage
    if (err instanceof ConfigError) {
      io.stderr.write(`${err.message}\n`)
      return EXIT.usage
    }
    io.stderr.write(`cups-server: ${(err as Error).message}\n`)
    return EXIT.failed
  }
}
