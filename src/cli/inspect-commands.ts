// `gateway list|show`: the fleet and one gateway as storage holds them, read-only; a token only when asked for, a private key never.
import { Option } from 'commander'
import type { Command } from 'commander'
import { fleetFilter, listFleet } from '../gateways/fleet-view'
import type { FleetRow } from '../gateways/fleet-view'
import { readGatewayDetail } from '../gateways/gateway-detail'
import { FLEET_STATES } from '../gateways/record-state'
import type { FleetState } from '../gateways/record-state'
import type { CliDeps } from './cli-deps'
import { CliError } from './cli-error'
import { durationArgument } from './duration-argument'
import { euiArgument } from './eui-argument'
import { formatGatewayDetail } from './gateway-detail-text'
import { printable } from './printable'
import { formatTable } from './table'

const EUI_HELP = 'the gateway EUI, in any form the server accepts (hex, dashed, colon-separated, ID6)'
const HEADERS = ['EUI', 'NAME', 'STATE', 'PROVISIONED', 'CERT EXPIRES', 'LAST SEEN (UTC)', 'STATION / PACKAGE', 'CONVERGED']

interface ListOptions {
  readonly expiringWithin?: number
  readonly stuck?: boolean
  readonly state?: FleetState
  readonly json?: boolean
}

export function addInspectCommands(gateway: Command, deps: CliDeps): void {
  gateway
    .command('list')
    .description('every gateway with anything stored: its state, credentials and what it last reported, sorted by EUI')
    .option('--expiring-within <duration>', 'only gateways whose CUPS client certificate expires within this (12h, 30d, 2w), expired ones included', durationArgument)
    .option('--stuck', 'only gateways with a segment the loop guard holds back now')
    .addOption(new Option('--state <state>', 'only gateways in this state').choices(FLEET_STATES))
    .option('--json', 'print one JSON array, one object per gateway (null where unknown)')
    .action(async (options: ListOptions) => {
      const now = deps.now()
      const criteria = {
        ...(options.state === undefined ? {} : { state: options.state }),
        ...(options.stuck === undefined ? {} : { stuck: options.stuck }),
        ...(options.expiringWithin === undefined ? {} : { expiringWithinMs: options.expiringWithin }),
      }
      const { prefix } = deps.config().storage
      const progress = progressLine(deps)
      let rows: FleetRow[]
      try {
        rows = await listFleet(deps.store(), prefix, { now, keep: fleetFilter(criteria, now), ...(progress && { progress: progress.update }) })
      } finally {
        progress?.clear()
      }
      if (options.json === true) {
        deps.stdout.write(`${JSON.stringify(rows)}\n`)
      } else if (rows.length === 0) {
        deps.stderr.write(Object.keys(criteria).length === 0 ? `no gateway has anything stored under ${JSON.stringify(prefix)}\n` : 'no gateway matches\n')
      } else {
        deps.stdout.write(formatTable(HEADERS, rows.map(tableRow)))
      }
    })

  gateway
    .command('show')
    .description('one gateway in full: its record, both credential bundles decoded, its inventory entry and last authentication')
    .argument('<eui>', EUI_HELP)
    .option('--show-token', 'print token values (from the bundles and the record) instead of their sizes; private keys are never printed')
    .option('--json', 'print the same as one JSON object')
    .action(async (euiText: string, options: { showToken?: boolean; json?: boolean }) => {
      const eui = euiArgument(euiText)
      const { prefix } = deps.config().storage
      const now = deps.now()
      const detail = await readGatewayDetail(deps.store(), prefix, eui, { now, revealToken: options.showToken === true })
      if (detail === undefined) throw new CliError(`${eui}: nothing is stored for this gateway`)
      deps.stdout.write(options.json === true ? `${JSON.stringify(detail)}\n` : formatGatewayDetail(detail, now))
    })
}

/** On a terminal only: "reading gateways: 3200/10000", rewritten in place at most every 200 ms, gone once done. */
function progressLine(deps: CliDeps): { update: (read: number, total: number) => void; clear: () => void } | undefined {
  if (deps.stderr.isTTY !== true) return undefined
  let last = 0
  let shown = false
  return {
    update: (read, total) => {
      const now = Date.now()
      if (now - last < 200) return
      last = now
      shown = true
      deps.stderr.write(`\rreading gateways: ${read}/${total}`)
    },
    clear: () => {
      if (shown) deps.stderr.write('\r\u001b[K')
    },
  }
}

function tableRow(row: FleetRow): string[] {
  const stationPackage = row.station === null && row.package === null ? '-' : `${row.station ?? '-'} / ${row.package ?? '-'}`
  return [
    row.eui,
    printable(row.name ?? '-'),
    row.state,
    row.provisioned,
    row.certificateNotAfter?.slice(0, 10) ?? '-',
    row.lastSeen === null ? '-' : `${row.lastSeen.slice(0, 10)} ${row.lastSeen.slice(11, 16)}`,
    printable(stationPackage),
    converged(row),
  ]
}

function converged(row: FleetRow): string {
  if (row.converged === null) return '-'
  if (row.converged) return 'yes'
  return row.stuck.length === 0 ? 'no' : `no, stuck: ${row.stuck.join(', ')}`
}
