// adminGet: one GET to the admin listener (plain HTTP on 127.0.0.1), for /healthz, /readyz and /metrics.
import http from 'node:http'

export interface AdminResponse {
  readonly status: number
  readonly body: string
  readonly contentType: string | undefined
}

export function adminGet(port: number, urlPath: string, timeoutMs = 10_000): Promise<AdminResponse> {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false, timeout: timeoutMs }, (response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => (body += chunk))
      response.on('end', () => {
        resolve({ status: response.statusCode ?? 0, body, contentType: response.headers['content-type'] })
      })
      response.on('error', reject)
    })
    request.on('timeout', () => request.destroy(new Error('request timed out')))
    request.on('error', reject)
  })
}
