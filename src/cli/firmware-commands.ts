// `cups-server firmware publish|sign|export-key|rollout|halt|status`: the firmware catalogue and its rollouts, thin over src/firmware/.
import { createPublicKey } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { readFile, stat } from 'node:fs/promises'
import path from 'node:path'
import { InvalidArgumentError, Option } from 'commander'
import type { Command } from 'commander'
import type { z } from 'zod'
import { FirmwareCatalogue, FirmwareError } from '../firmware/firmware-catalogue'
import { firmwareIdOf, MANIFEST_SCHEMA, ROLLOUT_DEFAULTS, ROLLOUT_SCHEMA, sha256Of } from '../firmware/firmware-manifest'
import type { FirmwareManifest, FirmwareSignature, Rollout } from '../firmware/firmware-manifest'
import { firmwareStatus } from '../firmware/firmware-status'
import type { FirmwareStatus, StatusGateway } from '../firmware/firmware-status'
import type { FirmwareOffer } from '../firmware/select-firmware'
import { keyCrcOf, publicKeyFromStationKey, signingKey, SigningKeyError, signUpdate, STATION_KEY_BYTES, stationKeyOf } from '../firmware/signing-keys'
import { mapBounded } from '../gateways/fleet-view'
import { GATEWAY_RECORD_SCHEMA, InvalidRecordError, parseGatewayRecord } from '../gateways/gateway-record'
import { parseInventoryEntry } from '../gateways/inventory'
import type { BlobStore, StoredBlob } from '../storage/blob-store'
import { gatewayEuisOf, normalisePrefix, storageKeys } from '../storage/storage-keys'
import type { CliDeps } from './cli-deps'
import { CliError } from './cli-error'
import { euiArgument } from './eui-argument'
import { writeOutputFiles } from './output-files'
import { printable } from './printable'
import { EXIT, ExitStatus } from './run-cli'
import { formatTable } from './table'

/** The station reads updLen as a signed 32-bit length (cups-protocol.md §5): an update must stay under 2 GiB. */
const MAX_UPDATE_BYTES = 0x7fffffff
/** Gateways (two objects each) read at once by `status`, as `gateway list` does. */
const STATUS_CONCURRENCY = 32
const ID_HELP = 'the firmware id (the last line `firmware publish` prints)'
const STATUS_HEADERS = ['ID', 'VERSION', 'FROM', 'MODELS', 'SIGNED FOR', 'ROLLOUT', 'TARGETED', 'DELIVERED', 'SUCCEEDED', 'FAILED', 'PENDING']

interface PublishOptions {
  readonly version: string
  readonly from: string[]
  readonly model: string[]
  readonly station: string[]
  readonly sign: string[]
  readonly description?: string
  readonly json?: boolean
}

interface SignOptions {
  readonly key: string[]
  readonly signature?: string
  readonly publicKey?: string
  readonly json?: boolean
}

interface RolloutOptions {
  readonly percent?: number
  readonly notBefore?: string
  readonly labels?: Record<string, string>
  readonly eui: string[]
  readonly model: string[]
  readonly from?: string[]
  readonly channel?: string
  readonly maxDownloads?: number
  readonly maxDeliveries?: number
  readonly haltAfterFailures?: number
  readonly allowUnsigned?: boolean
  readonly allowDowngrade?: boolean
  readonly json?: boolean
}

/** Adds `firmware ...` to program; subcommands inherit its output and exit handling. */
export function addFirmwareCommands(program: Command, deps: CliDeps): void {
  const firmware = program.command('firmware').description('firmware updates: the catalogue (published, signed files) and their rollouts')
  addPublishCommand(firmware, deps)
  addSignCommand(firmware, deps)
  addExportKeyCommand(firmware, deps)
  addRolloutCommand(firmware, deps)
  addHaltCommand(firmware, deps)
  addStatusCommand(firmware, deps)
}

function addPublishCommand(firmware: Command, deps: CliDeps): void {
  firmware
    .command('publish')
    .description(
      'add an update to the catalogue, signed with each --sign key; publishing the same file and version again finds the same ' +
        'entry and only adds signatures. Prints the firmware id as the last line',
    )
    .argument('<file>', 'the update the station runs (a script or executable, under 2 GiB)')
    .requiredOption('--version <version>', 'what the station reports as `package` once the update has run (its version.txt)', versionArgument)
    .requiredOption('--from <versions>', 'the `package` versions it upgrades from, comma-separated; repeat for more', versionList)
    .addOption(repeatable('--model <model>', 'only for stations reporting this `model`; repeat for more', modelArgument, 'every model'))
    .addOption(repeatable('--station <version>', 'only for this station version (e.g. 2.0.6); repeat for more', versionArgument, 'every one'))
    .addOption(repeatable('--sign <key.pem>', 'sign with this P-256 private key (PEM); repeat for more keys', (text) => text, 'unsigned'))
    .option('--description <text>', 'a note for people (up to 500 characters)', descriptionArgument)
    .option('--json', 'print the result as one JSON object instead (the id is then its `id`)')
    .action(async (file: string, options: PublishOptions) => {
      const update = await readUpdateFile(deps, file)
      const keys = await readSigningKeys(deps, options.sign)
      const signatures = keys.map(({ key }) => signatureEntry(update, key))
      const catalogue = catalogueOf(deps)
      const id = firmwareIdOf(options.version, sha256Of(update))
      const before = new Set((await catalogue.manifest(id))?.manifest.signatures.map((signature) => signature.keyCrc))
      const { manifest, created } = await catalogue.publish({
        update,
        version: options.version,
        from: options.from,
        models: options.model,
        stations: options.station,
        description: options.description,
        signatures,
        now: deps.now(),
      })
      const added = manifest.signatures.filter((signature) => !before.has(signature.keyCrc)).map((signature) => signature.keyCrc)
      if (created || added.length > 0) {
        deps.audit().info({ audit: created ? 'firmware-published' : 'firmware-signed', id, version: manifest.version, size: manifest.size, sha256: manifest.sha256, added }, 'firmware catalogue changed')
      }
      if (!created) for (const difference of keptFields(manifest, options)) deps.stderr.write(`warning: ${difference}\n`)
      if (manifest.signatures.length === 0) {
        deps.stderr.write(`note: ${id} is unsigned: gateways that report signing keys will not get it until it is signed (cups-server firmware sign ${id} --key key.pem)\n`)
      }
      if (options.json === true) {
        deps.stdout.write(`${JSON.stringify({ id, outcome: created ? 'published' : 'already-published', added, manifest })}\n`)
        return
      }
      const outcome = created ? 'published' : `already published; ${plural(added.length, 'signature')} added`
      deps.stdout.write(`${id}: ${outcome}\n${describeManifest(manifest, new Set(created ? [] : added))}${id}\n`)
    })
}

function addSignCommand(firmware: Command, deps: CliDeps): void {
  firmware
    .command('sign')
    .description(
      'add signatures to a published update: made here with --key, or made elsewhere (an HSM, `openssl dgst -sha512 -sign key.pem ' +
        '-out sig.der update.bin`) with --signature and --public-key. Each is checked against the stored update first',
    )
    .argument('<id>', ID_HELP)
    .addOption(repeatable('--key <key.pem>', 'sign with this P-256 private key (PEM); repeat for more keys', (text) => text, 'none'))
    .option('--signature <sig.der>', 'a DER ECDSA/SHA-512 signature of the update made elsewhere')
    .option('--public-key <file>', "the key that verifies --signature: the station's 64-byte sig-N.key, or a P-256 public key in PEM")
    .option('--json', 'print the result as JSON')
    .action(async (id: string, options: SignOptions) => {
      if (options.key.length === 0 && options.signature === undefined) usage(deps, 'give --key <key.pem>, or --signature <sig.der> with --public-key <file>')
      if ((options.signature === undefined) !== (options.publicKey === undefined)) {
        usage(deps, '--signature and --public-key go together: a signature and the key that verifies it')
      }
      const keys = await readSigningKeys(deps, options.key)
      const external =
        options.signature === undefined || options.publicKey === undefined
          ? undefined
          : {
              files: { signature: options.signature, publicKey: options.publicKey },
              signature: await readSignatureFile(deps, options.signature),
              stationKey: await readStationKey(deps, options.publicKey),
            }
      const catalogue = catalogueOf(deps)
      const existing = await catalogue.manifest(id)
      if (existing === undefined) throw new CliError(`firmware ${id} is not in the catalogue`)
      const entries: Omit<FirmwareSignature, 'keyCrc'>[] = []
      if (keys.length > 0) {
        const update = await catalogue.readUpdate(id, existing.manifest)
        entries.push(...keys.map(({ key }) => signatureEntry(update, key)))
      }
      if (external !== undefined) entries.push({ stationKey: external.stationKey.toString('base64'), signature: external.signature.toString('base64') })
      let manifest: FirmwareManifest
      try {
        manifest = await catalogue.sign(id, entries)
      } catch (err) {
        // Signatures made here from the stored update always verify: a refusal is the one made elsewhere.
        if (external === undefined || !(err instanceof FirmwareError) || !err.message.includes('does not verify')) throw err
        throw new CliError(`${external.files.signature} does not verify against the update of ${id} with the key in ${external.files.publicKey}; nothing was written`)
      }
      const before = new Set(existing.manifest.signatures.map((signature) => signature.keyCrc))
      const added = manifest.signatures.filter((signature) => !before.has(signature.keyCrc)).map((signature) => signature.keyCrc)
      if (added.length > 0) deps.audit().info({ audit: 'firmware-signed', id, added }, 'firmware signed')
      const keyCrcs = manifest.signatures.map((signature) => signature.keyCrc)
      if (options.json === true) {
        deps.stdout.write(`${JSON.stringify({ id, added, keyCrcs })}\n`)
        return
      }
      deps.stdout.write(`${id}: ${plural(added.length, 'signature')} added; signed for key CRCs ${keyCrcs.join(', ')}\n`)
    })
}

function addExportKeyCommand(firmware: Command, deps: CliDeps): void {
  firmware
    .command('export-key')
    .description("write the station's public key file (sig-N.key: the raw 64-byte X‖Y) for a signing key, and print its CRC (what the station reports in `keys`)")
    .argument('<key.pem>', 'the P-256 signing key (private or public, PEM)')
    .argument('<sig-N.key>', 'the file to write; a station loads sig-0.key, sig-1.key, ... from its home directory')
    .option('--force', 'replace an existing file with different content')
    .option('--json', 'print the result as JSON')
    .action(async (keyFile: string, outFile: string, options: { force?: boolean; json?: boolean }) => {
      const stationKey = await readStationKey(deps, keyFile)
      const target = path.resolve(deps.cwd, outFile)
      const [written] = await writeOutputFiles(path.dirname(target), [{ name: path.basename(target), content: stationKey }], { force: options.force === true })
      const keyCrc = keyCrcOf(stationKey)
      if (!/^sig-\d+\.key$/.test(path.basename(target))) {
        deps.stderr.write(`note: a station loads only sig-0.key, sig-1.key, ... (from its home directory); rename ${path.basename(target)} when you install it\n`)
      }
      if (options.json === true) {
        deps.stdout.write(`${JSON.stringify({ path: target, outcome: written?.outcome, keyCrc })}\n`)
        return
      }
      deps.stdout.write(`${target}: ${written?.outcome ?? 'written'}; key CRC ${String(keyCrc)} (what the station reports in \`keys\`)\n`)
    })
}

function addRolloutCommand(firmware: Command, deps: CliDeps): void {
  firmware
    .command('rollout')
    .description(
      'start, change or restart the rollout of a published update: the rollout is replaced by the one these options describe ' +
        '(a halted one becomes active again, its failures reset)',
    )
    .argument('<id>', ID_HELP)
    .option('--percent <percent>', 'share of the selected gateways, 0..100 (default 100; 0 with --eui: only those)', percentArgument)
    .option('--not-before <time>', 'not before this ISO 8601 time, e.g. 2026-12-01T06:00:00Z', timeArgument)
    .option('--labels <key=value,...>', 'only gateways whose record has all these labels', labelsArgument)
    .addOption(repeatable('--eui <eui>', 'always this gateway, whatever the percentage (a canary); repeat for more', (text) => text, 'none'))
    .addOption(repeatable('--model <model>', 'only stations reporting this `model`; repeat for more', modelArgument, "the update's"))
    .option('--from <versions>', 'only gateways running one of these `package` versions, comma-separated; repeat for more', versionList)
    .option('--channel <name>', 'only gateways whose record names this firmware channel (default: those naming none)', channelArgument)
    .option('--max-downloads <count>', `downloads at once per replica (default ${String(ROLLOUT_DEFAULTS.maxConcurrentDownloads)})`, positiveInteger)
    .option('--max-deliveries <count>', `deliveries to one gateway before it counts as failed (default ${String(ROLLOUT_DEFAULTS.maxDeliveries)})`, positiveInteger)
    .option('--halt-after-failures <count>', `halt the rollout once this many gateways failed (default ${String(ROLLOUT_DEFAULTS.haltAfterFailures)})`, positiveInteger)
    .option('--allow-unsigned', 'send it unsigned to stations without signing keys (they run whatever they get)')
    .option('--allow-downgrade', 'send it to gateways running a newer version')
    .option('--json', 'print the rollout document as JSON')
    .action(async (id: string, options: RolloutOptions) => {
      const euis = [...new Set(options.eui.flatMap(listArgument).map(euiArgument))]
      const now = deps.now().toISOString()
      // Checked before any storage access: the parts every change shares.
      const draft = rolloutOf(id, undefined, options, euis, now)
      const checked = ROLLOUT_SCHEMA.safeParse(draft)
      if (!checked.success) usage(deps, `the rollout would not validate: ${checked.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`)
      const catalogue = catalogueOf(deps)
      const existing = await catalogue.manifest(id)
      if (existing === undefined) throw new CliError(`firmware ${id} is not in the catalogue`)
      const rollout = await catalogue.changeRollout(id, (current) => rolloutOf(id, current, options, euis, now))
      if (rollout === undefined) throw new CliError(`rollout of ${id} was not written`)
      deps.audit().info({ audit: 'firmware-rollout-changed', id, state: rollout.state, percent: rollout.percent }, 'firmware rollout written')
      for (const warning of rolloutWarnings(existing.manifest, rollout)) deps.stderr.write(`warning: ${warning}\n`)
      deps.stdout.write(options.json === true ? `${JSON.stringify(rollout)}\n` : describeRollout(rollout))
    })
}

function addHaltCommand(firmware: Command, deps: CliDeps): void {
  firmware
    .command('halt')
    .description('stop a rollout: no gateway is sent this update any more (until `firmware rollout` starts it again)')
    .argument('<id>', ID_HELP)
    .option('--reason <text>', 'kept in the rollout as haltedReason', 'halted by an operator')
    .option('--json', 'print the result as JSON')
    .action(async (id: string, options: { reason: string; json?: boolean }) => {
      const catalogue = catalogueOf(deps)
      if ((await catalogue.manifest(id)) === undefined) throw new CliError(`firmware ${id} is not in the catalogue`)
      const now = deps.now().toISOString()
      // What changeRollout saw last (it may retry): a closure's assignment is invisible to narrowing, hence the holder.
      const seen: { current?: Rollout | undefined } = {}
      const rollout = await catalogue.changeRollout(id, (current) => {
        seen.current = current
        if (current === undefined || current.state === 'halted') return undefined
        return { ...current, state: 'halted', haltedAt: now, haltedReason: options.reason, updatedAt: now }
      })
      if (rollout === undefined) throw new CliError(`firmware ${id} has no rollout to halt`)
      const already = seen.current?.state === 'halted'
      if (!already) deps.audit().info({ audit: 'firmware-rollout-halted', id, reason: options.reason }, 'firmware rollout halted')
      if (options.json === true) {
        deps.stdout.write(`${JSON.stringify({ id, outcome: already ? 'already-halted' : 'halted', rollout })}\n`)
        return
      }
      const since = `since ${rollout.haltedAt ?? '?'}${rollout.haltedReason === undefined ? '' : `: ${printable(rollout.haltedReason)}`}`
      deps.stdout.write(already ? `rollout of ${id} was halted already (${since}); nothing changed\n` : `rollout of ${id} halted (${since})\n`)
    })
}

function addStatusCommand(firmware: Command, deps: CliDeps): void {
  firmware
    .command('status')
    .description(
      'every firmware (or the one given): its signatures, its rollout, and how many gateways it targets now, was delivered to, ' +
        'and succeeded, failed or is still pending on',
    )
    .argument('[id]', ID_HELP)
    .option('--json', 'print one JSON array, one object per firmware')
    .action(async (id: string | undefined, options: { json?: boolean }) => {
      const catalogue = catalogueOf(deps)
      const ids = await catalogue.ids()
      if (id !== undefined && !ids.includes(id)) throw new CliError(`firmware ${id} is not in the catalogue`)
      const { prefix } = deps.config().storage
      // Every firmware counts, even when one is asked for: a newer one's rollout may take a gateway from it.
      const offers = await readOffers(catalogue, ids)
      const gateways = await readStatusGateways(deps.store(), prefix)
      const rows = firmwareStatus(offers, gateways, deps.now()).filter((row) => id === undefined || row.id === id)
      if (options.json === true) deps.stdout.write(`${JSON.stringify(rows)}\n`)
      else if (rows.length === 0) deps.stderr.write(`no firmware is published under ${JSON.stringify(prefix)}\n`)
      else deps.stdout.write(formatTable(STATUS_HEADERS, rows.map(statusRow)))
    })
}

/** The rollout these options describe, keeping what the stored one (if any) must carry over. */
function rolloutOf(id: string, current: Rollout | undefined, options: RolloutOptions, euis: readonly string[], now: string): Rollout {
  const labels = options.labels ?? {}
  return {
    format: 1,
    firmware: id,
    state: 'active',
    percent: options.percent ?? (euis.length > 0 ? 0 : 100),
    ...(options.notBefore === undefined ? {} : { notBefore: options.notBefore }),
    ...(options.model.length === 0 ? {} : { models: options.model }),
    ...(options.from === undefined ? {} : { from: options.from }),
    ...(Object.keys(labels).length === 0 ? {} : { labels }),
    ...(euis.length === 0 ? {} : { euis: [...euis] }),
    ...(options.channel === undefined ? {} : { channel: options.channel }),
    maxConcurrentDownloads: options.maxDownloads ?? ROLLOUT_DEFAULTS.maxConcurrentDownloads,
    allowUnsigned: options.allowUnsigned === true,
    allowDowngrade: options.allowDowngrade === true,
    maxDeliveries: options.maxDeliveries ?? ROLLOUT_DEFAULTS.maxDeliveries,
    haltAfterFailures: options.haltAfterFailures ?? ROLLOUT_DEFAULTS.haltAfterFailures,
    // Restarting a halted rollout is the operator's word that the failures are dealt with; a change to a running one keeps counting.
    failures: current === undefined || current.state === 'halted' ? 0 : current.failures,
    createdAt: current?.createdAt ?? now,
    updatedAt: now,
  }
}

/** Where a re-publish asked for other targeting than the stored entry has: the entry stays as it is. */
function keptFields(manifest: FirmwareManifest, options: PublishOptions): string[] {
  const listed = (values: readonly string[] | undefined): string => (values === undefined || values.length === 0 ? '(all)' : [...values].sort().join(', '))
  const asked: [string, string, string][] = [
    ['--from', listed(options.from), listed(manifest.from)],
    ['--model', listed(options.model), listed(manifest.models)],
    ['--station', listed(options.station), listed(manifest.stations)],
    // A description left out is no request to drop the stored one.
    ...(options.description === undefined ? [] : [['--description', options.description, manifest.description ?? ''] as [string, string, string]]),
  ]
  return asked
    .filter(([, wanted, stored]) => wanted !== stored)
    .map(([option, , stored]) => `${option} differs from the published entry, which keeps ${printable(stored === '' ? '(none)' : stored)}: published entries never change (publish under a new --version instead)`)
}

/** What makes this rollout reach fewer gateways than the operator probably meant. */
function rolloutWarnings(manifest: FirmwareManifest, rollout: Rollout): string[] {
  const warnings: string[] = []
  if (manifest.signatures.length === 0) {
    warnings.push(
      rollout.allowUnsigned
        ? `${manifest.id} has no signatures: gateways with signing keys get nothing until it is signed (only keyless ones get it, unsigned)`
        : `${manifest.id} has no signatures: gateways with signing keys get nothing until it is signed, and keyless ones only with --allow-unsigned; this rollout reaches no gateway`,
    )
  }
  const models = manifest.models
  if (models !== undefined) {
    for (const model of rollout.models ?? []) if (!models.includes(model)) warnings.push(`model ${printable(model)} is not among the update's models (${models.map(printable).join(', ')}): it reaches no such gateway`)
  }
  for (const version of rollout.from ?? []) {
    if (!manifest.from.includes(version)) warnings.push(`--from ${printable(version)}: the update does not upgrade from it (${manifest.from.map(printable).join(', ')}); no such gateway gets it`)
  }
  if (rollout.percent === 0 && rollout.euis === undefined) warnings.push('at 0 % and without --eui it selects no gateway')
  return warnings
}

function describeRollout(rollout: Rollout): string {
  const lines: [string, string][] = [
    ['state', rollout.state === 'active' ? 'active' : `halted since ${rollout.haltedAt ?? '?'}${rollout.haltedReason === undefined ? '' : ` (${printable(rollout.haltedReason)})`}`],
    ['percent', `${String(rollout.percent)} % of the selected gateways`],
    ['not before', rollout.notBefore ?? 'now'],
    ['models', rollout.models?.map(printable).join(', ') ?? "the update's"],
    ['from', rollout.from?.map(printable).join(', ') ?? "the update's"],
    ['labels', rollout.labels === undefined ? 'any' : Object.entries(rollout.labels).map(([key, value]) => printable(`${key}=${value}`)).join(', ')],
    ['always', rollout.euis?.join(', ') ?? 'none'],
    ['channel', rollout.channel === undefined ? 'gateways naming no channel' : printable(rollout.channel)],
    ['downloads', `at most ${String(rollout.maxConcurrentDownloads)} at once per replica`],
    ['loop guard', `failed after ${plural(rollout.maxDeliveries, 'delivery', 'deliveries')} without the new version`],
    ['halts after', `${plural(rollout.haltAfterFailures, 'failure')} (${String(rollout.failures)} so far)`],
    ['unsigned', rollout.allowUnsigned ? 'to stations without signing keys' : 'never'],
    ['downgrade', rollout.allowDowngrade ? 'allowed' : 'never'],
  ]
  return `rollout of ${rollout.firmware}:\n${fieldLines(lines)}`
}

function describeManifest(manifest: FirmwareManifest, added: ReadonlySet<number>): string {
  const signatures = manifest.signatures.map((signature) => `key CRC ${String(signature.keyCrc)}${added.has(signature.keyCrc) ? ' (added)' : ''}`)
  return fieldLines([
    ['version', printable(manifest.version)],
    ['size', `${String(manifest.size)} bytes`],
    ['sha256', manifest.sha256],
    ['from', manifest.from.map(printable).join(', ')],
    ['models', manifest.models?.map(printable).join(', ') ?? 'every model'],
    ['stations', manifest.stations?.map(printable).join(', ') ?? 'every station version'],
    ['signed for', signatures.length === 0 ? 'no key (unsigned)' : signatures.join(', ')],
  ])
}

function fieldLines(fields: readonly [string, string][]): string {
  const width = Math.max(...fields.map(([name]) => name.length))
  return fields.map(([name, value]) => `  ${name.padEnd(width)}  ${value}\n`).join('')
}

function statusRow(row: FirmwareStatus): string[] {
  const { rollout, gateways } = row
  const rolloutCell =
    rollout === null
      ? '-'
      : [
          rollout.state,
          `${String(rollout.percent)}%`,
          ...(rollout.channel === null ? [] : [`channel=${printable(rollout.channel)}`]),
          `failures=${String(rollout.failures)}/${String(rollout.haltAfterFailures)}`,
        ].join(' ')
  return [
    row.id,
    printable(row.version),
    row.from.map(printable).join(','),
    row.models?.map(printable).join(',') ?? 'all',
    row.keyCrcs.length === 0 ? 'unsigned' : row.keyCrcs.join(','),
    rolloutCell,
    ...[gateways.targeted, gateways.delivered, gateways.succeeded, gateways.failed, gateways.pending].map(String),
  ]
}

/** Every firmware with its rollout; a stored document that does not parse fails the command, naming the firmware. */
async function readOffers(catalogue: FirmwareCatalogue, ids: readonly string[]): Promise<Map<string, FirmwareOffer>> {
  const offers = await mapBounded(ids, 8, async (id): Promise<FirmwareOffer | undefined> => {
    try {
      const [manifest, rollout] = await Promise.all([catalogue.manifest(id), catalogue.rollout(id)])
      // Status reads no update: the catalogue checked each signature against the update when it was added.
      return manifest === undefined ? undefined : { manifest: manifest.manifest, rollout: rollout?.rollout, signatures: manifest.manifest.signatures }
    } catch (err) {
      throw new CliError(`firmware ${id}: ${(err as Error).message}`, { cause: err })
    }
  })
  return new Map(offers.filter((offer) => offer !== undefined).map((offer) => [offer.manifest.id, offer]))
}

/** Every gateway with anything stored: its record's labels and firmware preference, and its inventory entry. */
async function readStatusGateways(store: BlobStore, prefix: string): Promise<StatusGateway[]> {
  const euis = gatewayEuisOf(await store.list(normalisePrefix(prefix)), prefix)
  return mapBounded(euis, STATUS_CONCURRENCY, async (eui) => {
    const keys = storageKeys(prefix, eui)
    const [record, inventory] = await Promise.all([store.get(keys.settings), store.get(keys.inventory)])
    return { eui, ...recordView(record), inventory: inventory === undefined ? undefined : parseInventoryEntry(inventory.body) }
  })
}

function recordView(stored: StoredBlob | undefined): Pick<StatusGateway, 'labels' | 'preference' | 'servable'> {
  // No record: a gateway the bootstrap policy let in, served as it was.
  if (stored === undefined) return { labels: {}, preference: undefined, servable: true }
  try {
    const record = parseGatewayRecord(stored.body)
    // The server answers an invalid record "no change", and refuses a disabled or revoked one.
    return { labels: record.overrides?.labels ?? {}, preference: record.overrides?.firmware, servable: record.state === 'active' && record.problems.length === 0 }
  } catch (err) {
    if (!(err instanceof InvalidRecordError)) throw err
    return { labels: {}, preference: undefined, servable: false }
  }
}

function catalogueOf(deps: CliDeps): FirmwareCatalogue {
  return new FirmwareCatalogue(deps.store(), deps.config().storage.prefix)
}

function signatureEntry(update: Buffer, key: KeyObject): Omit<FirmwareSignature, 'keyCrc'> {
  return { stationKey: stationKeyOf(key).toString('base64'), signature: signUpdate(update, key).toString('base64') }
}

async function readUpdateFile(deps: CliDeps, file: string): Promise<Buffer> {
  const target = path.resolve(deps.cwd, file)
  const info = await stat(target).catch((err: unknown) => usage(deps, `cannot read ${file}: ${(err as Error).message}`))
  if (!info.isFile()) usage(deps, `${file} is not a regular file`)
  if (info.size === 0) usage(deps, `${file} is empty: a station treats an empty update as none`)
  if (info.size > MAX_UPDATE_BYTES) usage(deps, `${file} is ${String(info.size)} bytes; a station takes updates under 2 GiB`)
  return readInput(deps, file)
}

async function readSigningKeys(deps: CliDeps, files: readonly string[]): Promise<{ file: string; key: KeyObject }[]> {
  const keys: { file: string; key: KeyObject }[] = []
  for (const file of files) {
    const pem = await readInput(deps, file)
    try {
      keys.push({ file, key: signingKey(pem) })
    } catch (err) {
      if (!(err instanceof SigningKeyError)) throw err
      usage(deps, `${file}: ${err.message}`)
    }
  }
  return keys
}

/** A station key from its 64-byte sig-N.key, or from a P-256 key in PEM (public or private) or SPKI DER. */
async function readStationKey(deps: CliDeps, file: string): Promise<Buffer> {
  const bytes = await readInput(deps, file)
  try {
    if (bytes.length === STATION_KEY_BYTES) {
      publicKeyFromStationKey(bytes)
      return bytes
    }
    const pem = bytes.subarray(0, 11).toString('latin1') === '-----BEGIN '
    return stationKeyOfPublic(pem ? createPublicKey(bytes) : createPublicKey({ key: bytes, format: 'der', type: 'spki' }))
  } catch (err) {
    usage(deps, `${file}: not a station key (64 bytes, X‖Y) or a P-256 key in PEM: ${(err as Error).message}`)
  }
}

/**
 * stationKeyOf for a public KeyObject: it derives the point with createPublicKey(key), which Node refuses for a key
 * that is already public, so the point comes from the JWK here (and is checked back as the station would load it).
 */
function stationKeyOfPublic(key: KeyObject): Buffer {
  // Any other key: stationKeyOf refuses it, saying which curve the station wants.
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') return stationKeyOf(key)
  const { x, y } = key.export({ format: 'jwk' })
  const point = Buffer.concat([Buffer.from(x ?? '', 'base64url'), Buffer.from(y ?? '', 'base64url')])
  publicKeyFromStationKey(point)
  return point
}

/** The raw DER signature `openssl dgst -sha512 -sign` writes: SEQUENCE { r, s }, at most 128 bytes (the station's buffer). */
async function readSignatureFile(deps: CliDeps, file: string): Promise<Buffer> {
  const der = await readInput(deps, file)
  // Short-form DER: a SEQUENCE whose length byte covers the rest exactly (P-256 signatures are 70..72 bytes).
  if (der.length < 8 || der.length > 128 || der[0] !== 0x30 || der[1] !== der.length - 2) {
    usage(deps, `${file} is not a DER ECDSA signature (the raw output of \`openssl dgst -sha512 -sign key.pem -out ${path.basename(file)} update.bin\`)`)
  }
  return der
}

async function readInput(deps: CliDeps, file: string): Promise<Buffer> {
  try {
    return await readFile(path.resolve(deps.cwd, file))
  } catch (err) {
    usage(deps, `cannot read ${file}: ${(err as Error).message}`)
  }
}

/** A file or argument the command cannot work with: said on stderr, exit status 2 (README "Operator CLI"). */
function usage(deps: CliDeps, message: string): never {
  deps.stderr.write(`cups-server: ${message}\n`)
  throw new ExitStatus(EXIT.usage)
}

function versionArgument(text: string): string {
  return checkedBy(MANIFEST_SCHEMA.shape.version, text)
}

function modelArgument(text: string): string {
  return checkedBy(MANIFEST_SCHEMA.shape.models.unwrap().element, text)
}

function descriptionArgument(text: string): string {
  return checkedBy(MANIFEST_SCHEMA.shape.description.unwrap(), text)
}

function channelArgument(text: string): string {
  return checkedBy(ROLLOUT_SCHEMA.shape.channel.unwrap(), text)
}

/** Parsed by the documents' own schema, so the CLI accepts exactly what a stored manifest or rollout may hold. */
function checkedBy(schema: z.ZodType<string>, text: string): string {
  const parsed = schema.safeParse(text)
  if (!parsed.success) throw new InvalidArgumentError(`${JSON.stringify(text)}: ${parsed.error.issues[0]?.message ?? 'not allowed'}`)
  return text
}

function versionList(value: string, previous: string[] | undefined): string[] {
  const versions = listArgument(value)
  if (versions.length === 0) throw new InvalidArgumentError('give at least one version')
  return [...(previous ?? []), ...versions.map(versionArgument)]
}

function percentArgument(text: string): number {
  const percent = Number(text)
  if (!/^\d{1,3}(?:\.\d+)?$/.test(text) || percent > 100) throw new InvalidArgumentError('a number from 0 to 100')
  return percent
}

function positiveInteger(text: string): number {
  if (!/^\d{1,9}$/.test(text) || Number(text) < 1) throw new InvalidArgumentError('a whole number, 1 or more')
  return Number(text)
}

/** An ISO 8601 date or date-time (with Z or an offset; a date alone is midnight UTC), stored as UTC. */
function timeArgument(text: string): string {
  const time = Date.parse(text)
  // Date.parse also takes forms like "12/01/2026" whose meaning depends on the reader; only ISO 8601 is clear.
  if (!/^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2}))?$/.test(text) || Number.isNaN(time)) {
    throw new InvalidArgumentError('an ISO 8601 time with Z or an offset, e.g. 2026-12-01T06:00:00Z')
  }
  return new Date(time).toISOString()
}

function labelsArgument(value: string, previous: Record<string, string> | undefined): Record<string, string> {
  // A Map, then fromEntries: a label named __proto__ must become a label, not the object's prototype.
  const labels = new Map(Object.entries(previous ?? {}))
  for (const pair of listArgument(value)) {
    const separator = pair.indexOf('=')
    if (separator <= 0) throw new InvalidArgumentError(`${JSON.stringify(pair)}: write it as key=value`)
    const key = pair.slice(0, separator)
    // The record's own rule for label names: a rollout label no record can carry would select nothing.
    if (!GATEWAY_RECORD_SCHEMA.shape.labels.safeParse({ [key]: '' }).success) throw new InvalidArgumentError(`${JSON.stringify(key)}: label names are [A-Za-z0-9_.-]{1,63}`)
    labels.set(key, pair.slice(separator + 1))
  }
  return Object.fromEntries(labels)
}

function listArgument(value: string): string[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '')
}

/** A repeatable option collecting its parsed values; the help names what leaving it out means, not `[]`. */
function repeatable(flags: string, description: string, parse: (text: string) => string, absent: string): Option {
  return new Option(flags, description).default([], absent).argParser((value: string, previous: string[]) => [...previous, parse(value)])
}

function plural(count: number, one: string, many = `${one}s`): string {
  return `${String(count)} ${count === 1 ? one : many}`
}
