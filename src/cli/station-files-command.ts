// `gateway station-files <eui> <dir>`: the cups.uri and cups.trust a gateway image needs, checked the way the station reads them.
import { X509Certificate } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import type { Command } from 'commander'
import type { Config } from '../config'
import { crc32 } from '../cups/crc32'
import { buildStationFiles } from '../cups/station-files'
import type { StationFiles } from '../cups/station-files'
import { InvalidRecordError, parseGatewayRecord } from '../gateways/gateway-record'
import type { GatewayRecord } from '../gateways/gateway-record'
import { effectiveSettings } from '../gateways/gateway-settings'
import { DEV_PKI_FILES } from '../pki/dev-pki'
import { readPkiFiles } from '../pki/pki-files'
import { preflightTrust } from '../pki/trust-preflight'
import { startupFiles, toStartupError } from '../startup-checks'
import { storageKeys } from '../storage/storage-keys'
import type { CliDeps } from './cli-deps'
import { CliError } from './cli-error'
import { euiArgument } from './eui-argument'
import { firstContactRefusal } from './first-contact'
import { writeOutputFiles } from './output-files'
import { formatTable } from './table'

const EUI_HELP = 'the gateway EUI, in any form the server accepts (hex, dashed, colon-separated, ID6)'

interface Options {
  readonly force?: boolean
  readonly json?: boolean
}

export function addStationFilesCommand(gateway: Command, deps: CliDeps): void {
  gateway
    .command('station-files')
    .description(
      'write the cups.uri and cups.trust a gateway image needs into <dir>, checked the way the station reads them: ' +
        'its CUPS URI (record, else CUPS_URI) and the DER trust this server hands out. No key material: the gateway ' +
        'gets its identity at first contact',
    )
    .argument('<eui>', EUI_HELP)
    .argument('<dir>', 'where to write them; created if missing, relative to the current directory')
    .option('--force', 'replace existing files whose content differs (otherwise they are kept and nothing is written)')
    .option('--json', 'print the result as JSON')
    .action(async (euiText: string, dirText: string, options: Options) => {
      const eui = euiArgument(euiText)
      const config = deps.config()
      const record = await readRecord(deps, config, eui)
      const cupsUri = effectiveSettings({ cupsUri: config.cups.cupsUri, tcUri: config.cups.tcUri }, record?.overrides).cupsUri
      const uriFrom = record?.overrides?.cupsUri === undefined ? 'CUPS_URI' : 'record'
      if (cupsUri === undefined) {
        throw new CliError(
          `${eui}: no CUPS URI to write: its record has no cupsUri and CUPS_URI is not set; set CUPS_URI, or give ` +
            `the gateway one: cups-server gateway add ${eui} --cups-uri https://host:port`,
        )
      }
      const { trust, serverCertificate } = await readPki(config, eui)
      const built = checked(eui, () => buildStationFiles(cupsUri, trust))
      // What start checks for CUPS_URI, for this gateway's URI: a station holding this trust must accept us there.
      checked(eui, () => {
        preflightTrust({ cupsTrust: trust, serverCertificatePem: serverCertificate, cupsUri, now: deps.now() })
      }, `a station holding this cups.trust would refuse the server at ${cupsUri}: `)
      const dir = path.resolve(deps.cwd, dirText)
      let written
      try {
        written = await writeOutputFiles(dir, built.files, { force: options.force === true })
      } catch (err) {
        throw new CliError(`${eui}: nothing written: ${(err as Error).message}`)
      }
      // Advice only: the files are written, so a storage hiccup here becomes a note, not a failure.
      const refusal = await firstContactRefusal(deps.store(), config, eui, deps.now()).catch(
        (err: unknown) => `whether the server would serve its first contact could not be checked: ${(err as Error).message}`,
      )
      const files = written.map((file) => {
        const content = built.files.find(({ name }) => name === file.name)?.content ?? Buffer.alloc(0)
        return { ...file, bytes: content.length, crc32: crc32(content) }
      })
      if (options.json === true) {
        const notes = refusal === undefined ? [] : [refusal]
        deps.stdout.write(`${JSON.stringify({ eui, dir, cupsUri, cupsUriFrom: uriFrom, files, cupsCredCrc: built.cupsCredCrc, notes })}\n`)
        return
      }
      const trustName = new X509Certificate(trust).subject.split('\n').join(', ')
      const describe = (name: string): string =>
        name === 'cups.uri' ? `${cupsUri} (from ${uriFrom === 'record' ? 'its record' : 'CUPS_URI'})` : `DER certificate "${trustName}"`
      deps.stdout.write(
        formatTable(
          ['file', 'outcome', 'bytes', 'crc32', 'content'],
          files.map((file) => [file.path, file.outcome, String(file.bytes), String(file.crc32), describe(file.name)]),
        ),
      )
      deps.stdout.write(summary(eui, built))
      if (refusal !== undefined) deps.stderr.write(`note: ${eui}: ${refusal}\n`)
    })
}

function summary(eui: string, built: StationFiles): string {
  return (
    `${eui}: no key material written: the gateway gets its identity at first contact, reporting cupsCredCrc ` +
    `${built.cupsCredCrc} until then\n`
  )
}

/** The record's cupsUri counts only when the record validates; the server serves no other record as it says. */
async function readRecord(deps: CliDeps, config: Config, eui: string): Promise<GatewayRecord | undefined> {
  const key = storageKeys(config.storage.prefix, eui).settings
  let stored
  try {
    stored = await deps.store().get(key)
  } catch (err) {
    throw new CliError(`${eui}: cannot read its record ${key}: ${(err as Error).message}`)
  }
  if (stored === undefined) return undefined
  let record: GatewayRecord
  try {
    record = parseGatewayRecord(stored.body)
  } catch (err) {
    if (!(err instanceof InvalidRecordError)) throw err
    throw new CliError(`${eui}: its record does not count (${stored.unusable ?? err.message}); fix it first`)
  }
  if (record.problems.length > 0) {
    throw new CliError(`${eui}: its record does not validate (${record.problems.join('; ')}); the server answers it "no change" until it is fixed`)
  }
  return record
}

/** The trust exactly as the CUPS bundles carry it (readPkiFiles(...).cups), and the server certificate file as served. */
async function readPki(config: Config, eui: string): Promise<{ trust: Buffer; serverCertificate: Buffer }> {
  const { tls } = config
  if (!DEV_PKI_FILES.some((file) => existsSync(path.join(tls.certPath, file)))) {
    throw new CliError(
      `${eui}: CERT_PATH ${tls.certPath} holds no certificates yet; the server generates a development PKI there at its first ` +
        'start (start it once), or put your own ca.crt, ca.key, cups.crt and cups.key there',
    )
  }
  const blamed = (err: unknown): string => {
    const mapped = toStartupError(err, { files: startupFiles(config) })
    return mapped instanceof Error ? mapped.message : String(mapped)
  }
  let trust: Buffer
  try {
    trust = readPkiFiles(tls).cups
  } catch (err) {
    throw new CliError(`${eui}: cannot read the CUPS trust the server hands out: ${blamed(err)}`)
  }
  try {
    return { trust, serverCertificate: await readFile(tls.serverCertFile) }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message
    throw new CliError(`${eui}: cannot check cups.trust against the server certificate: CERT_PATH: ${tls.serverCertFile}: cannot be read (${code})`)
  }
}

/** Runs a check; its failure becomes a CliError naming the EUI. */
function checked<T>(eui: string, check: () => T, context = ''): T {
  try {
    return check()
  } catch (err) {
    throw new CliError(`${eui}: ${context}${(err as Error).message}`)
  }
}
