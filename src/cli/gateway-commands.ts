// `cups-server gateway ...`: commands on one gateway's stored state; thin over src/gateways/.
import type { Command } from 'commander'
import type { Config } from '../config'
import { parseRouterId } from '../cups/router-id'
import { revokeGateway } from '../gateways/revoke'
import { createLogger } from '../logger'
import { createBlobStore } from '../storage/create-blob-store'
import { CliError } from './cli-error'

export interface GatewayCommandDeps {
  readonly config: () => Config
  readonly stdout: { write(text: string): unknown }
  /** Audit lines (JSON, like the server's) go here. */
  readonly stderr: { write(text: string): unknown }
}

const QUIET = { info: () => undefined, warn: () => undefined }

/** Adds `gateway ...` to program; subcommands inherit its output and exit handling. */
export function addGatewayCommands(program: Command, deps: GatewayCommandDeps): void {
  const gateway = program.command('gateway').description('one gateway: its record and credentials')
  gateway
    .command('revoke')
    .description(
      'refuse the gateway from now on (every replica within CACHE_TTL_SECONDS) and delete its credentials; ' +
        'it stays registered, and only setting its record back to "active" lets it start over',
    )
    .argument('<eui>', 'the gateway EUI, in any form the server accepts (hex, dashed, ID6)')
    .option('--reason <text>', 'kept in the record as revokedReason')
    .option('--json', 'print the result as JSON')
    .action(async (euiText: string, options: { reason?: string; json?: boolean }) => {
      const eui = euiOf(euiText)
      const { storage } = deps.config()
      const audit = createLogger('info', { write: (line: string) => deps.stderr.write(line) })
      const result = await revokeGateway(createBlobStore(storage, QUIET), eui, {
        prefix: storage.prefix,
        log: audit,
        ...(options.reason === undefined ? {} : { reason: options.reason }),
      })
      if (options.json === true) {
        deps.stdout.write(`${JSON.stringify({ eui, state: 'revoked', revokedAt: result.record.revokedAt, deleted: result.deleted })}\n`)
      } else {
        const deleted = result.deleted.length === 0 ? 'no credentials were stored' : `deleted ${result.deleted.join(', ')}`
        deps.stdout.write(`revoked ${eui}: ${deleted}\n`)
      }
    })
}

function euiOf(text: string): string {
  try {
    return parseRouterId(text)
  } catch (err) {
    throw new CliError(`${JSON.stringify(text)} is not a gateway EUI: ${(err as Error).message}`)
  }
}
