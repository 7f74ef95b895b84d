// `cups-server gateway ...`: one command group per file; each is thin over src/gateways/.
import type { Command } from 'commander'
import type { CliDeps } from './cli-deps'
import { addImportCommand } from './import-command'
import { addInspectCommands } from './inspect-commands'
import { addPreviewCommand } from './preview-command'
import { addRecordCommands } from './record-commands'
import { addStationFilesCommand } from './station-files-command'

/** Adds `gateway ...` to program; subcommands inherit its output and exit handling. */
export function addGatewayCommands(program: Command, deps: CliDeps): void {
  const gateway = program.command('gateway').description('gateways: their records, credentials and what they get next')
  addRecordCommands(gateway, deps)
  addImportCommand(gateway, deps)
  addInspectCommands(gateway, deps)
  addPreviewCommand(gateway, deps)
  addStationFilesCommand(gateway, deps)
}
