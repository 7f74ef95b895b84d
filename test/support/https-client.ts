// postUpdateInfo: a plain HTTPS POST to /update-info with optional client certificate and headers.
import https from 'node:https'

export interface PostOptions {
  readonly ca: Buffer | string
  readonly cert?: Buffer | string
  readonly key?: Buffer | string
  readonly headers?: Readonly<Record<string, string>>
  readonly maxVersion?: 'TLSv1.2' | 'TLSv1.3'
}

export interface PostResult {
  readonly status: number
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
  readonly body: Buffer
}

export function postUpdateInfo(port: number, body: string | Buffer, options: PostOptions): Promise<PostResult> {
  return new Promise((resolve, reject) => {
    const request = https.request(
      {
        host: '127.0.0.1',
        servername: 'localhost',
        port,
        method: 'POST',
        path: '/update-info',
        agent: false,
        ca: options.ca,
        ...(options.cert === undefined ? {} : { cert: options.cert }),
        ...(options.key === undefined ? {} : { key: options.key }),
        ...(options.maxVersion === undefined ? {} : { maxVersion: options.maxVersion }),
        headers: { 'content-length': Buffer.byteLength(body), ...options.headers },
      },
      (response) => {
        const chunks: Buffer[] = []
        response.on('data', (chunk: Buffer) => chunks.push(chunk))
        response.on('end', () => {
          resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) })
        })
        response.on('error', reject)
      },
    )
    request.on('error', reject)
    request.end(body)
  })
}
