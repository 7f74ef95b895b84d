// StationSimulator: a Basics Station 2.0.6 stand-in that keeps cups.*/tc.* files and talks CUPS over real TLS 1.2.
import { X509Certificate, createPrivateKey } from 'node:crypto'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import tls from 'node:tls'
import { crc32 } from 'node:zlib'
import { decodeUpdateInfoResponse, splitBlobLikeStation } from './station-decoder'

type Category = 'cups' | 'tc'
const PARTS = ['trust', 'crt', 'key'] as const

export interface ContactResult {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: Buffer
  /** Segments the station took from a 200 response (empty object for any other status). */
  readonly segments: ReturnType<typeof decodeUpdateInfoResponse> | undefined
  /** Credential blobs the station could not parse and therefore did not write. */
  readonly rejectedCredentials: readonly Category[]
  /** How this contact authenticated: the station's credential mode for the CUPS set. */
  readonly mode: 'none' | 'server' | 'token' | 'both'
}

export interface StationOptions {
  /** ID6 router id as the station sends it, e.g. 16:c001:ff10:a235. */
  readonly router: string
  readonly home: string
  readonly package?: string | null
}

export class StationSimulator {
  constructor(private readonly options: StationOptions) {}

  get home(): string {
    return this.options.home
  }

  async setFile(name: string, content: Buffer | string): Promise<void> {
    await mkdir(this.home, { recursive: true })
    await writeFile(path.join(this.home, name), content)
  }

  /** File content, or an empty Buffer when missing (the station treats both alike). */
  async file(name: string): Promise<Buffer> {
    try {
      return await readFile(path.join(this.home, name))
    } catch {
      return Buffer.alloc(0)
    }
  }

  /** sys_crcCred: trust, crt, key chained; a missing or empty file counts as 4 zero bytes. */
  async credentialCrc(category: Category): Promise<number> {
    let crc = 0
    for (const part of PARTS) {
      const content = await this.file(`${category}.${part}`)
      crc = crc32(content.length > 0 ? content : Buffer.alloc(4), crc)
    }
    return crc
  }

  async uri(category: Category): Promise<string | null> {
    const text = (await this.file(`${category}.uri`)).toString('latin1').replace(/[ \t\r\n]+$/, '')
    return text === '' || text.length >= 128 ? null : text
  }

  /** The compact JSON body, keys in the station's order (cups-protocol.md §2). */
  async requestBody(): Promise<string> {
    return JSON.stringify({
      router: this.options.router,
      cupsUri: await this.uri('cups'),
      tcUri: await this.uri('tc'),
      cupsCredCrc: await this.credentialCrc('cups'),
      tcCredCrc: await this.credentialCrc('tc'),
      station: '2.0.6(linux/testsim) 2026-11-23 19:46:54',
      model: 'linux',
      package: this.options.package === undefined ? '1.0.0' : this.options.package,
      keys: [],
    })
  }

  /** One CUPS session against cups.uri; a 200 response is applied to the files like the station does. */
  async contact(): Promise<ContactResult> {
    const uri = await this.uri('cups')
    if (uri === null) throw new Error('station has no cups.uri')
    const match = /^(https?):\/\/(\[[^\]]+\]|[^:/]+):(\d+)$/i.exec(uri)
    if (!match) throw new Error(`station would refuse cups.uri ${uri}`)
    const [, scheme, host = '', port = ''] = match
    const trust = await this.file('cups.trust')
    const crt = await this.file('cups.crt')
    const key = await this.file('cups.key')
    const mode = trust.length === 0 ? 'none' : crt.length > 0 && key.length > 0 ? 'both' : key.length > 0 ? 'token' : 'server'
    if (scheme?.toLowerCase() !== 'https') throw new Error('the simulator speaks https only')
    if (mode === 'none') throw new Error('URI requires TLS but no trust configured')

    const body = await this.requestBody()
    // Byte-exact request head: Content-Length right-aligned in 5 characters, token lines after it.
    let head = `POST /update-info HTTP/1.1\r\nHost: ${host}:${port}\r\nContent-Type: application/json\r\n`
    head += `Content-Length:${String(Buffer.byteLength(body)).padStart(6, ' ')}\r\n`
    if (mode === 'token') head += tokenHeaderLines(key.toString('latin1'))
    const raw = await exchange(
      {
        host: host.replace(/^\[|\]$/g, ''),
        port: Number(port),
        servername: host,
        ca: toPemCertificate(trust),
        minVersion: 'TLSv1.2',
        maxVersion: 'TLSv1.2',
        ...(mode === 'both' ? { cert: toPemCertificate(crt), key: toPemKey(key) } : {}),
      },
      Buffer.from(`${head}\r\n${body}`, 'latin1'),
    )
    const result = parseResponse(raw)
    if (result.status !== 200) return { ...result, segments: undefined, rejectedCredentials: [], mode }
    const segments = decodeUpdateInfoResponse(result.body)
    const rejected = await this.apply(segments)
    return { ...result, segments, rejectedCredentials: rejected, mode }
  }

  /** Apply a decoded response like sys_commitConfigUpdate: URIs verbatim, blobs split into three files. */
  private async apply(segments: ReturnType<typeof decodeUpdateInfoResponse>): Promise<Category[]> {
    const rejected: Category[] = []
    if (segments.cupsUri !== undefined) await this.setFile('cups.uri', segments.cupsUri)
    if (segments.tcUri !== undefined) await this.setFile('tc.uri', segments.tcUri)
    for (const category of ['cups', 'tc'] as const) {
      const blob = category === 'cups' ? segments.cupsCredentials : segments.tcCredentials
      if (blob === undefined) continue
      let parts
      try {
        parts = splitBlobLikeStation(blob)
      } catch {
        rejected.push(category) // the station logs and writes nothing (cups-protocol.md §4)
        continue
      }
      await this.setFile(`${category}.trust`, parts.trust)
      await this.setFile(`${category}.crt`, parts.certificate)
      await this.setFile(`${category}.key`, parts.key)
    }
    return rejected
  }

  async remove(): Promise<void> {
    await rm(this.home, { recursive: true, force: true })
  }
}

/** validateAuthToken: bare LF becomes CRLF and one final CRLF closes the block. */
function tokenHeaderLines(token: string): string {
  const lines = token.split(/\r?\n/).filter((line) => line !== '')
  return lines.map((line) => `${line}\r\n`).join('')
}

function toPemCertificate(content: Buffer): string {
  return content.includes('-----BEGIN') ? content.toString('latin1') : new X509Certificate(content).toString()
}

function toPemKey(content: Buffer): string {
  if (content.includes('-----BEGIN')) return content.toString('latin1')
  return createPrivateKey({ key: content, format: 'der', type: 'sec1' }).export({ format: 'pem', type: 'sec1' }).toString()
}

function exchange(options: tls.ConnectionOptions, request: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    const socket = tls.connect(options, () => socket.write(request))
    const timer = setTimeout(() => socket.destroy(new Error('CUPS_CONN_TIMEOUT')), 15_000)
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk)
      const raw = Buffer.concat(chunks)
      const headerEnd = raw.indexOf('\r\n\r\n')
      if (headerEnd < 0) return
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(raw.subarray(0, headerEnd).toString('latin1'))
      if (length && raw.length >= headerEnd + 4 + Number(length[1])) socket.end()
    })
    socket.on('end', () => socket.end())
    socket.on('close', () => {
      clearTimeout(timer)
      resolve(Buffer.concat(chunks))
    })
    socket.on('error', (err: Error) => {
      clearTimeout(timer)
      reject(err)
    })
  })
}

function parseResponse(raw: Buffer): { status: number; headers: Record<string, string>; body: Buffer } {
  const headerEnd = raw.indexOf('\r\n\r\n')
  if (headerEnd < 0) throw new Error('no response head')
  const [statusLine = '', ...headerLines] = raw.subarray(0, headerEnd).toString('latin1').split('\r\n')
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine)
  if (!status) throw new Error(`bad status line ${statusLine}`)
  const headers: Record<string, string> = {}
  for (const line of headerLines) {
    const colon = line.indexOf(':')
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim()
  }
  // The station reads the body length from Content-Length only; chunked bodies fail (rule 11).
  if (headers['transfer-encoding'] !== undefined) throw new Error('Received more data than expected (chunked)')
  const length = Number(headers['content-length'] ?? 0)
  const body = raw.subarray(headerEnd + 4)
  if (body.length > length) throw new Error(`Received more data than expected: ${body.length - length} extra bytes`)
  return { status: Number(status[1]), headers, body: body.subarray(0, length) }
}
