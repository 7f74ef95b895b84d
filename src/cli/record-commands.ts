// `gateway add|disable|enable|revoke|reset`: the commands that change a gateway's record (and, for revoke and reset, its credentials).
import type { Command } from 'commander'
import { editRecord } from '../gateways/record-edits'
import type { RecordEdit, RecordEditResult } from '../gateways/record-edits'
import { resetGateway } from '../gateways/reset'
import { revokeGateway } from '../gateways/revoke'
import type { CliDeps } from './cli-deps'
import { CliError, forGateway } from './cli-error'
import { euiArgument } from './eui-argument'

const EUI_HELP = 'the gateway EUI, in any form the server accepts (hex, dashed, colon-separated, ID6)'

export function addRecordCommands(gateway: Command, deps: CliDeps): void {
  gateway
    .command('add')
    .description('register a gateway, or update its record: only the fields given change, the rest is kept')
    .argument('<eui>', EUI_HELP)
    .option('--name <name>', 'a name for people (up to 200 characters)')
    .option('--label <key=value>', 'set a label; repeat for more', collect, [])
    .option('--remove-label <key>', 'remove a label; repeat for more', collect, [])
    .option('--cups-uri <uri>', 'the CUPS URI this gateway is sent (overrides CUPS_URI)')
    .option('--tc-uri <uri>', 'the LNS URI this gateway is sent (overrides TC_URI)')
    .option('--json', 'print the result as JSON')
    .action(async (euiText: string, options: AddOptions) => {
      const eui = euiArgument(euiText)
      const labels = options.label.map(labelOf)
      const result = await edit(deps, eui, (current) => withAdded(current, options, labels))
      report(deps, eui, result, 'gateway-record-written', options.json)
    })

  gateway
    .command('disable')
    .description('refuse the gateway (403) while it stays disabled; its credentials are kept, so enable serves it again')
    .argument('<eui>', EUI_HELP)
    .option('--json', 'print the result as JSON')
    .action(async (euiText: string, options: { json?: boolean }) => {
      const eui = euiArgument(euiText)
      const result = await edit(deps, eui, (current) => {
        if (current?.state === 'revoked') throw new CliError(`${eui} is revoked; it stays refused (gateway reset lets it start over)`)
        return { ...current, state: 'disabled' }
      })
      report(deps, eui, result, 'gateway-disabled', options.json)
    })

  gateway
    .command('enable')
    .description('serve a disabled gateway again, with the credentials it holds')
    .argument('<eui>', EUI_HELP)
    .option('--json', 'print the result as JSON')
    .action(async (euiText: string, options: { json?: boolean }) => {
      const eui = euiArgument(euiText)
      const result = await edit(deps, eui, (current) => {
        if (current === undefined) throw new CliError(`${eui} has no record: register it with \`cups-server gateway add ${eui}\``)
        if (current.state === 'revoked') {
          throw new CliError(`${eui} is revoked: its credentials are gone; \`cups-server gateway reset ${eui}\` lets it start over`)
        }
        return { ...current, state: 'active' }
      })
      report(deps, eui, result, 'gateway-enabled', options.json)
    })

  gateway
    .command('revoke')
    .description(
      'refuse the gateway from now on (every replica within CACHE_TTL_SECONDS) and delete its credentials; ' +
        'it stays registered, and only `gateway reset` lets it start over',
    )
    .argument('<eui>', EUI_HELP)
    .option('--reason <text>', 'kept in the record as revokedReason')
    .option('--json', 'print the result as JSON')
    .action(async (euiText: string, options: { reason?: string; json?: boolean }) => {
      const eui = euiArgument(euiText)
      const { prefix } = deps.config().storage
      const result = await forGateway(eui, () =>
        revokeGateway(deps.store(), eui, {
          prefix,
          now: deps.now(),
          log: deps.audit(),
          ...(options.reason === undefined ? {} : { reason: options.reason }),
        }),
      )
      if (options.json === true) {
        deps.stdout.write(`${JSON.stringify({ eui, state: 'revoked', revokedAt: result.record.revokedAt, deleted: result.deleted })}\n`)
      } else {
        const deleted = result.deleted.length === 0 ? 'no credentials were stored' : `deleted ${result.deleted.join(', ')}`
        deps.stdout.write(`revoked ${eui}: ${deleted}\n`)
      }
    })

  gateway
    .command('reset')
    .description(
      'start the gateway over: its credentials are deleted (none of its old ones counts again), it is active, and ' +
        'exactly one anonymous first contact may fetch its new identity, whatever BOOTSTRAP_POLICY says',
    )
    .argument('<eui>', EUI_HELP)
    .option('--json', 'print the result as JSON')
    .action(async (euiText: string, options: { json?: boolean }) => {
      const eui = euiArgument(euiText)
      const { prefix } = deps.config().storage
      const result = await forGateway(eui, () => resetGateway(deps.store(), eui, { prefix, now: deps.now(), log: deps.audit() }))
      if (options.json === true) {
        deps.stdout.write(`${JSON.stringify({ eui, state: 'active', bootstrap: 'once', deleted: result.deleted })}\n`)
      } else {
        const deleted = result.deleted.length === 0 ? 'no credentials were stored' : `deleted ${result.deleted.join(', ')}`
        deps.stdout.write(`reset ${eui}: ${deleted}; its next anonymous first contact (one only) gets a new identity\n`)
      }
    })
}

interface AddOptions {
  readonly name?: string
  readonly label: string[]
  readonly removeLabel: string[]
  readonly cupsUri?: string
  readonly tcUri?: string
  readonly json?: boolean
}

function withAdded(current: Readonly<Record<string, unknown>> | undefined, options: AddOptions, labels: readonly [string, string][]): Record<string, unknown> {
  const fields: Record<string, unknown> = { ...current }
  if (options.name !== undefined) fields.name = options.name
  if (options.cupsUri !== undefined) fields.cupsUri = options.cupsUri
  if (options.tcUri !== undefined) fields.tcUri = options.tcUri
  if (labels.length > 0 || options.removeLabel.length > 0) {
    const existing = typeof fields.labels === 'object' && fields.labels !== null ? (fields.labels as Record<string, unknown>) : {}
    const merged: Record<string, unknown> = { ...existing, ...Object.fromEntries(labels) }
    for (const key of options.removeLabel) Reflect.deleteProperty(merged, key)
    if (Object.keys(merged).length === 0) Reflect.deleteProperty(fields, 'labels')
    else fields.labels = merged
  }
  return fields
}

function edit(deps: CliDeps, eui: string, change: RecordEdit): Promise<RecordEditResult> {
  return forGateway(eui, () => editRecord(deps.store(), eui, change, { prefix: deps.config().storage.prefix }))
}

function report(deps: CliDeps, eui: string, result: RecordEditResult, audit: string, json: boolean | undefined): void {
  if (result.outcome !== 'unchanged') deps.audit().info({ audit, eui, outcome: result.outcome }, 'gateway record written')
  if (json === true) {
    deps.stdout.write(`${JSON.stringify({ eui, outcome: result.outcome, state: result.record.state, record: result.record.fields })}\n`)
  } else {
    deps.stdout.write(`${result.outcome} ${eui}: ${result.record.state}${describe(result.record.fields)}\n`)
  }
}

function describe(fields: Readonly<Record<string, unknown>>): string {
  return typeof fields.name === 'string' ? ` (${fields.name})` : ''
}

function labelOf(text: string): [string, string] {
  const separator = text.indexOf('=')
  if (separator <= 0) throw new CliError(`--label ${JSON.stringify(text)}: write it as key=value`)
  return [text.slice(0, separator), text.slice(separator + 1)]
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value]
}
