// postWithSession: one POST /update-info on its own TLS connection, offering a saved session for resumption.
import tls from 'node:tls'

export interface SessionPost {
  readonly status: number
  readonly body: Buffer
  /** True when the server resumed the offered session (no new certificate exchange). */
  readonly reused: boolean
  /** The session to offer next time. */
  readonly session: Buffer | undefined
}

export interface SessionPostOptions {
  readonly ca: Buffer | string
  /** No client certificate when absent. */
  readonly cert?: string
  readonly key?: string
  readonly session?: Buffer
  readonly maxVersion?: 'TLSv1.2' | 'TLSv1.3'
}

export function postWithSession(port: number, body: string, options: SessionPostOptions): Promise<SessionPost> {
  return new Promise((resolve, reject) => {
    let session: Buffer | undefined
    const chunks: Buffer[] = []
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      ca: options.ca,
      ...(options.cert === undefined ? {} : { cert: options.cert, key: options.key }),
      maxVersion: options.maxVersion ?? 'TLSv1.2',
      ...(options.session === undefined ? {} : { session: options.session }),
    })
    // TLS 1.3 delivers its ticket after the handshake; TLS 1.2 during it. Either way it arrives before the answer.
    socket.on('session', (value: Buffer) => (session = value))
    socket.on('secureConnect', () => {
      socket.write(
        `POST /update-info HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nConnection: close\r\n` +
          `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      )
    })
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('error', reject)
    socket.on('end', () => {
      const raw = Buffer.concat(chunks)
      const headerEnd = raw.indexOf('\r\n\r\n')
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(raw.subarray(0, Math.max(headerEnd, 0)).toString('latin1'))?.[1] ?? 0)
      resolve({ status, body: headerEnd < 0 ? Buffer.alloc(0) : raw.subarray(headerEnd + 4), reused: socket.isSessionReused(), session })
      socket.destroy()
    })
  })
}
