// `gateway preview <eui>`: the next answer, decided by the server's own code on the stored state; nothing minted or written.
import { X509Certificate } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import type { Command } from 'commander'
import { parseUpdateInfoRequest } from '../cups/update-info-request'
import type { UpdateInfoRequest } from '../cups/update-info-request'
import { InvalidRequestError } from '../errors'
import type { FirmwareChoice } from '../firmware/select-firmware'
import { bundleMaterial } from '../gateways/access-policy'
import type { Caller } from '../gateways/access-policy'
import { SEGMENTS } from '../gateways/inventory'
import type { Preview } from '../gateways/update-info-service'
import { parseCertificates } from '../pki/certificates'
import type { CliDeps } from './cli-deps'
import { CliError, forGateway } from './cli-error'
import { euiArgument } from './eui-argument'
import { openGateways } from './open-gateways'
import { formatTable } from './table'

interface PreviewOptions {
  readonly request?: string
  readonly certificate?: string
  readonly anonymous?: boolean
  readonly json?: boolean
}

/** Which request was previewed and who was assumed to send it. */
interface Assumed {
  readonly request: UpdateInfoRequest
  readonly requestSource: string
  readonly caller: Caller
  readonly callerSource: string
}

export function addPreviewCommand(gateway: Command, deps: CliDeps): void {
  gateway
    .command('preview')
    .description(
      'what the next answer to this gateway would be (which segments and why, or which status and why), decided by ' +
        "the server's own code on what is stored now; it mints nothing and writes nothing",
    )
    .argument('<eui>', 'the gateway EUI, in any form the server accepts')
    .option('--request <file.json>', 'a captured update-info request body (default: what the gateway last reported)')
    .option('--certificate <file>', 'the client certificate (PEM or DER) the caller presents (default: the one in its CUPS bundle)')
    .option('--anonymous', 'a caller who presents nothing (a first contact)')
    .option('--json', 'print the preview as JSON')
    .action(async (euiText: string, options: PreviewOptions) => {
      const eui = euiArgument(euiText)
      if (options.anonymous === true && options.certificate !== undefined) throw new CliError('give --anonymous or --certificate, not both')
      const gateways = await openGateways(deps)
      const { assumed, preview } = await forGateway(eui, async () => {
        const assumed = await assume(deps, eui, options, gateways)
        return { assumed, preview: await gateways.updateInfo.preview(assumed.request, assumed.caller) }
      })
      deps.stdout.write(options.json === true ? `${JSON.stringify(asJson(eui, assumed, preview))}\n` : asText(eui, assumed, preview))
    })
}

async function assume(deps: CliDeps, eui: string, options: PreviewOptions, gateways: Awaited<ReturnType<typeof openGateways>>): Promise<Assumed> {
  const { request, requestSource } = await requestOf(deps, eui, options.request, gateways)
  if (options.anonymous === true) return { request, requestSource, caller: anonymous(), callerSource: 'presents nothing (--anonymous)' }
  if (options.certificate !== undefined) {
    const file = path.resolve(deps.cwd, options.certificate)
    const [certificate] = parseCertificates(await readFile(file).catch((err: unknown) => {
      throw new CliError(`--certificate ${options.certificate}: ${(err as Error).message}`)
    }), options.certificate)
    if (certificate === undefined) throw new CliError(`--certificate ${options.certificate}: no certificate in it`)
    return { request, requestSource, caller: presenting(certificate.raw), callerSource: `presents ${options.certificate} (serial ${certificate.serialNumber})` }
  }
  // What a converged gateway presents: the credential in its stored CUPS bundle.
  const stored = await gateways.credentials.stored('cups', eui)
  const material = bundleMaterial(stored?.body)
  if (material.certificate !== undefined) {
    const serial = new X509Certificate(material.certificate).serialNumber
    return { request, requestSource, caller: presenting(material.certificate), callerSource: `presents the certificate in its CUPS bundle (serial ${serial})` }
  }
  if (material.token !== undefined) return { request, requestSource, caller: withToken(material.token), callerSource: 'presents the token in its CUPS bundle' }
  return { request, requestSource, caller: anonymous(), callerSource: 'presents nothing: its CUPS bundle holds no credential' }
}

async function requestOf(
  deps: CliDeps,
  eui: string,
  file: string | undefined,
  gateways: Awaited<ReturnType<typeof openGateways>>,
): Promise<{ request: UpdateInfoRequest; requestSource: string }> {
  if (file !== undefined) {
    let body: unknown
    try {
      body = JSON.parse(await readFile(path.resolve(deps.cwd, file), 'utf8'))
    } catch (err) {
      throw new CliError(`--request ${file}: ${(err as Error).message}`)
    }
    let request: UpdateInfoRequest
    try {
      request = parseUpdateInfoRequest(body)
    } catch (err) {
      if (err instanceof InvalidRequestError) throw new CliError(`--request ${file}: ${err.message}`)
      throw err
    }
    if (request.eui !== eui) throw new CliError(`--request ${file} is from router ${request.eui}, not ${eui}`)
    return { request, requestSource: file }
  }
  const entry = await gateways.inventory.entry(eui)
  if (entry === undefined) {
    // Nothing reported yet: a station fresh from the factory, whose CRCs match nothing we store.
    const request = { eui, router: eui, cupsUri: null, tcUri: null, cupsCredCrc: 0, tcCredCrc: 0, station: null, model: null, package: null, keys: [] }
    return { request, requestSource: 'a first contact (the gateway has reported nothing yet)' }
  }
  const { reported } = entry
  const request = { eui, router: eui, ...reported, station: entry.station, model: entry.model, package: entry.package }
  return { request, requestSource: `what it last reported (inventory, last seen ${entry.lastSeen})` }
}

function presenting(der: Buffer): Caller {
  return { certificate: { der }, header: () => undefined, peer: 'preview' }
}

function anonymous(): Caller {
  return { certificate: undefined, header: () => undefined, peer: 'preview' }
}

/** The header lines of a stored token, as the station sends them. */
function withToken(token: string): Caller {
  const headers = new Map(
    token.split('\r\n').map((line) => {
      const separator = line.indexOf(': ')
      return [line.slice(0, separator).toLowerCase(), line.slice(separator + 2)] as const
    }),
  )
  return { certificate: undefined, header: (name) => headers.get(name), peer: 'preview' }
}

function asJson(eui: string, assumed: Assumed, preview: Preview): Record<string, unknown> {
  const base = { eui, request: { source: assumed.requestSource, ...assumed.request }, caller: assumed.callerSource }
  switch (preview.outcome) {
    case 'refused':
      return { ...base, outcome: 'refused', status: preview.status, reason: preview.reason }
    case 'no-change':
      return { ...base, outcome: 'no-change', status: 200, proof: preview.proof, reason: preview.reason }
    case 'answer': {
      const segments = preview.decision.explain()
      return {
        ...base,
        outcome: 'answer',
        status: 200,
        proof: preview.proof,
        cupsUri: preview.cupsUri ?? null,
        tcUri: preview.tcUri ?? null,
        segments,
        sends: SEGMENTS.filter((segment) => segments[segment].send),
        heldBack: preview.decision.heldBack,
        firmware: firmwareJson(preview.firmware),
        actions: preview.actions,
      }
    }
  }
}

function asText(eui: string, assumed: Assumed, preview: Preview): string {
  const head = [`next answer to ${eui}`, `request: ${assumed.requestSource}`, `caller:  ${assumed.callerSource}`]
  switch (preview.outcome) {
    case 'refused':
      return lines([...head, `status:  ${String(preview.status)}, refused: ${preview.reason}`])
    case 'no-change':
      return lines([...head, `status:  200 "no change" (proof: ${preview.proof}): ${preview.reason}`])
    case 'answer': {
      const segments = preview.decision.explain()
      const sent = SEGMENTS.filter((segment) => segments[segment].send)
      const summary = sent.length === 0 ? '200 "no change"' : `200 with ${sent.join(', ')}`
      const update = preview.firmware === undefined ? [] : [['update', 'send' in preview.firmware ? 'yes' : 'no', firmwareReason(preview.firmware)]]
      const table = formatTable(
        ['segment', 'sent', 'why'],
        [...SEGMENTS.map((segment) => [segment, segments[segment].send ? 'yes' : 'no', segments[segment].reason]), ...update],
      )
      const actions = preview.actions.length === 0 ? [] : ['the server would also:', ...preview.actions.map((action) => `  - ${action}`)]
      return `${lines([...head, `status:  ${summary} (proof: ${preview.proof})`, ''])}${table}${lines(actions)}`
    }
  }
}

function firmwareReason(choice: FirmwareChoice): string {
  return 'send' in choice ? `${choice.send.manifest.id} (${choice.send.manifest.version}): ${choice.reason}` : choice.none
}

function firmwareJson(choice: FirmwareChoice | undefined): Record<string, unknown> | null {
  if (choice === undefined) return null
  if ('send' in choice) {
    return { send: true, firmware: choice.send.manifest.id, version: choice.send.manifest.version, keyCrc: choice.signature?.keyCrc ?? null, reason: choice.reason }
  }
  return { send: false, reason: choice.none, ...(choice.failed === undefined ? {} : { failed: choice.failed.id }) }
}

function lines(texts: readonly string[]): string {
  return texts.map((text) => `${text}\n`).join('')
}
