// StationSimulator: a Basics Station 2.0.6 stand-in that keeps cups.*/tc.* files and talks CUPS over real TLS 1.2.
import { X509Certificate, createPrivateKey } from 'node:crypto'
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import tls from 'node:tls'
import { crc32 } from 'node:zlib'
import { decodeUpdateInfoResponse, splitBlobLikeStation } from './station-decoder'
import type { UpdateVerdict } from './station-signatures'
import { stationKeyCrcs, stationVerify } from './station-signatures'

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
  /** What the station did with a non-empty update segment; keyId is the N of the sig-N.key that verified. */
  readonly update?: { readonly verdict: UpdateVerdict; readonly keyId?: number; readonly length: number }
}

export interface StationOptions {
  /** ID6 router id as the station sends it, e.g. 16:c001:ff10:a235. */
  readonly router: string
  readonly home: string
  /** Initial version.txt content; null means no version.txt. Default '1.0.0'. */
  readonly package?: string | null
  /**
   * Called where the station would execute <home>/update.bin (it is never executed here). A string becomes the new
   * version.txt, i.e. `package` of later requests; undefined or null means the update left version.txt alone.
   */
  readonly runUpdate?: (update: Buffer) => string | null | undefined
  /** CUPS_CONN_TIMEOUT: inactivity limit, re-armed by every response chunk. Default 60 s like the station. */
  readonly connTimeoutMs?: number
  /** A slow link: after each response chunk, stop reading for this long. */
  readonly readDelayMs?: number
  /** A stalled link: once this many response bytes (head and body) arrived, stop reading for good. */
  readonly stallAfterBytes?: number
}

export class StationSimulator {
  private currentPackage: string | null

  constructor(private readonly options: StationOptions) {
    this.currentPackage = options.package === undefined ? '1.0.0' : options.package
  }

  get home(): string {
    return this.options.home
  }

  /** version.txt as the station would report it now: changed by a run update whose runUpdate returned a string. */
  get package(): string | null {
    return this.currentPackage
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

  /** sig-0.key, sig-1.key, … up to the first missing file (sys_sigKey's scan). */
  async keyFiles(): Promise<Buffer[]> {
    const files: Buffer[] = []
    for (;;) {
      try {
        files.push(await readFile(path.join(this.home, `sig-${files.length}.key`)))
      } catch {
        return files
      }
    }
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
      package: this.currentPackage,
      keys: stationKeyCrcs(await this.keyFiles()),
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
    const { raw, failure } = await exchange(
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
      { connTimeoutMs: this.options.connTimeoutMs ?? 60_000, readDelayMs: this.options.readDelayMs, stallAfterBytes: this.options.stallAfterBytes },
    )
    if (failure !== undefined && raw.indexOf('\r\n\r\n') < 0) throw failure
    const result = parseResponse(raw)
    // A non-200 status is a rejection as soon as the head is in; the station never reads that body.
    if (result.status !== 200) return { ...result, segments: undefined, rejectedCredentials: [], mode }
    const declared = Number(result.headers['content-length'] ?? 0)
    let segments
    try {
      // Once the last segment is in, the station is done and closes: a shortfall after it does not matter.
      segments = decodeUpdateInfoResponse(result.body)
    } catch (err) {
      // A failed session, but URIs and credentials were committed just before a non-empty update started downloading.
      const committed = committedBeforeUpdate(result.body)
      if (committed !== undefined) await this.apply(committed)
      if (result.body.length >= declared) throw err
      throw failure ?? new Error(`connection closed after ${result.body.length} of ${declared} body bytes`)
    }
    const rejected = await this.apply(segments)
    const update = segments.update === undefined ? undefined : await this.runOrAbort(segments.update, segments.signature?.der)
    return { ...result, segments, rejectedCredentials: rejected, mode, ...(update === undefined ? {} : { update }) }
  }

  /** cups_ondone for a complete update: verify against the sig-N.key files, then run it (here: runUpdate) or delete it. */
  private async runOrAbort(update: Buffer, signatureDer: Buffer | undefined): Promise<NonNullable<ContactResult['update']>> {
    // The station downloads to update.bi_ (mode 0750) and renames it once complete; /tmp/update.bin there, home here.
    await mkdir(this.home, { recursive: true })
    const temp = path.join(this.home, 'update.bi_')
    await writeFile(temp, update, { mode: 0o750 })
    await rename(temp, path.join(this.home, 'update.bin'))
    const verification = stationVerify(update, signatureDer, await this.keyFiles())
    if (verification.verdict === 'ran-verified' || verification.verdict === 'ran-unsigned') {
      const version = this.options.runUpdate?.(update)
      // version.txt is read with trailing whitespace stripped, like the URI files.
      if (typeof version === 'string') this.currentPackage = version.replace(/[ \t\r\n]+$/, '')
    } else {
      await rm(path.join(this.home, 'update.bin'), { force: true }) // sys_abortUpdate
    }
    const keyId = verification.keyId
    return { verdict: verification.verdict, ...(keyId === undefined ? {} : { keyId }), length: update.length }
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

interface ExchangeLimits {
  readonly connTimeoutMs: number
  readonly readDelayMs?: number | undefined
  readonly stallAfterBytes?: number | undefined
}

interface Exchanged {
  readonly raw: Buffer
  /** The error or timeout that ended the connection once response bytes had arrived. */
  readonly failure: Error | undefined
}

/** Writes the request and collects the response until Content-Length bytes arrived or the connection closed. */
function exchange(options: tls.ConnectionOptions, request: Buffer, limits: ExchangeLimits): Promise<Exchanged> {
  return new Promise((resolve, reject) => {
    let chunks: Buffer[] = []
    let received = 0
    let expected: number | undefined
    let failure: Error | undefined
    let draining = false // the stalled peer went away: read what is left so 'end' and 'close' can come
    let timer: NodeJS.Timeout | undefined
    let resumeTimer: NodeJS.Timeout | undefined
    let probeTimer: NodeJS.Timeout | undefined
    const socket = tls.connect(options, () => socket.write(request))
    // CUPS_CONN_TIMEOUT is armed at connect and re-armed per chunk, so a slow but moving download goes on.
    const arm = (): void => {
      clearTimeout(timer)
      timer = setTimeout(() => socket.destroy(new Error('CUPS_CONN_TIMEOUT')), limits.connTimeoutMs)
    }
    const stop = (): void => {
      clearTimeout(timer)
      clearTimeout(resumeTimer)
      clearTimeout(probeTimer)
    }
    // A paused socket stops reading from the kernel, so the server's FIN would only be seen after the data in front
    // of it; watch the server's end of the connection instead, and drain once it has closed.
    const probe = (seenOpen: boolean): void => {
      probeTimer = setTimeout(() => {
        void peerState(socket.localPort, socket.remotePort).then((state) => {
          if (socket.destroyed) return
          if (state === 'closed' || (state === 'missing' && seenOpen)) {
            draining = true
            socket.resume()
          } else probe(seenOpen || state === 'open')
        })
      }, 100)
    }
    arm()
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length
      if (expected === undefined) {
        // Only the head is searched and merged; body chunks are just counted, not concatenated per event.
        const head = Buffer.concat([...chunks, chunk])
        chunks = [head]
        const headerEnd = head.indexOf('\r\n\r\n')
        if (headerEnd >= 0) {
          const length = /\r\ncontent-length:\s*(\d+)/i.exec(head.toString('latin1', 0, headerEnd))
          if (length) expected = headerEnd + 4 + Number(length[1])
        }
      } else chunks.push(chunk)
      arm()
      if (expected !== undefined && received >= expected) {
        socket.end()
        return
      }
      if (draining) return
      if (limits.stallAfterBytes !== undefined && received >= limits.stallAfterBytes) {
        socket.pause()
        probe(false)
      } else if (limits.readDelayMs !== undefined) {
        // Our own pause is the station being slow, not the link: its timer does not run meanwhile.
        clearTimeout(timer)
        socket.pause()
        resumeTimer = setTimeout(() => {
          arm()
          socket.resume()
        }, limits.readDelayMs)
      }
    })
    socket.on('end', () => socket.end())
    socket.on('error', (err: Error) => {
      failure = err
      if (received === 0) {
        stop()
        reject(err)
      }
    })
    socket.on('close', () => {
      stop()
      resolve({ raw: Buffer.concat(chunks), failure })
    })
  })
}

/** The TCP state of the other end of a local connection, from /proc/net/tcp{,6} (Linux; 'missing' elsewhere). */
async function peerState(localPort: number | undefined, remotePort: number | undefined): Promise<'open' | 'closed' | 'missing'> {
  if (localPort === undefined || remotePort === undefined) return 'missing'
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string
    try {
      text = await readFile(table, 'latin1')
    } catch {
      continue
    }
    for (const line of text.split('\n').slice(1)) {
      const [, local = '', remote = '', state = ''] = line.trim().split(/\s+/)
      const port = (address: string): number => parseInt(address.slice(address.lastIndexOf(':') + 1), 16)
      // The server's socket has our remote port as its local one; 01 is ESTABLISHED.
      if (port(local) === remotePort && port(remote) === localPort) return state === '01' ? 'open' : 'closed'
    }
  }
  return 'missing'
}

/** The URI and credential segments sys_commitConfigUpdate wrote before a non-empty update began to download. */
function committedBeforeUpdate(body: Buffer): ReturnType<typeof decodeUpdateInfoResponse> | undefined {
  if (body.length < 2) return undefined
  const tcUriLenAt = 1 + body.readUInt8(0)
  if (tcUriLenAt >= body.length) return undefined
  let pos = tcUriLenAt + 1 + body.readUInt8(tcUriLenAt)
  for (const width of [2, 2, 4]) {
    if (pos + width > body.length) return undefined
    const length = width === 2 ? body.readUInt16LE(pos) : body.readInt32LE(pos)
    if (length < 0) return undefined
    pos += width + length
  }
  if (pos + 4 > body.length || body.readInt32LE(pos) <= 0) return undefined
  try {
    return decodeUpdateInfoResponse(Buffer.concat([body.subarray(0, pos), Buffer.alloc(4)]))
  } catch {
    return undefined
  }
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
  // A short body is kept as it came; the caller decides what the station made of it.
  return { status: Number(status[1]), headers, body }
}
