// Connection-level limits over real TLS: slow and idle clients are cut off, the connection cap holds.
import net from 'node:net'
import tls from 'node:tls'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTestServer } from '../support/test-server'
import type { TestServer } from '../support/test-server'

/** Resolves with how long the server took to close the connection, and what it sent before. */
function whenClosed(socket: net.Socket): Promise<{ afterMs: number; received: string }> {
  const started = Date.now()
  let received = ''
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')))
  return new Promise((resolve) => {
    socket.on('close', () => { resolve({ afterMs: Date.now() - started, received }); })
    socket.on('error', () => undefined)
  })
}

describe('connection hardening', () => {
  let server: TestServer

  beforeAll(async () => {
    server = await startTestServer({ REQUEST_TIMEOUT_MS: '1000', IDLE_TIMEOUT_MS: '1500', MAX_CONNECTIONS: '4' })
  })
  afterAll(async () => {
    await server.stop()
  })

  const connectTls = (): Promise<tls.TLSSocket> =>
    new Promise((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port: server.port, servername: 'localhost', ca: server.caPem }, () => { resolve(socket); })
      socket.on('error', reject)
    })

  it('cuts off a client that dribbles its request one byte at a time', async () => {
    const socket = await connectTls()
    const closed = whenClosed(socket)
    const request = 'POST /update-info HTTP/1.1\r\nHost: localhost\r\nContent-Length: 233\r\n\r\n{"router":'
    let index = 0
    const timer = setInterval(() => {
      if (!socket.destroyed && index < request.length) socket.write(request[index++] ?? '')
    }, 200)
    const { afterMs, received } = await closed
    clearInterval(timer)
    expect(afterMs).toBeLessThan(4000)
    expect(index).toBeLessThan(request.length)
    expect(received === '' || received.startsWith('HTTP/1.1 408')).toBe(true)
  })

  it('closes a TLS connection that never sends a request', async () => {
    const { afterMs } = await whenClosed(await connectTls())
    expect(afterMs).toBeGreaterThan(900)
    expect(afterMs).toBeLessThan(4000)
  })

  it('closes a TCP connection that never starts the TLS handshake', async () => {
    const socket = net.connect({ host: '127.0.0.1', port: server.port })
    const { afterMs } = await whenClosed(socket)
    expect(afterMs).toBeLessThan(4000)
  })

  it('refuses connections beyond MAX_CONNECTIONS and serves again once they close', async () => {
    const held = await Promise.all([connectTls(), connectTls(), connectTls(), connectTls()])
    const extra = net.connect({ host: '127.0.0.1', port: server.port })
    const { afterMs } = await whenClosed(extra)
    expect(afterMs).toBeLessThan(1000)
    for (const socket of held) socket.destroy()
    await new Promise((resolve) => setTimeout(resolve, 100))
    const again = await connectTls()
    expect(again.authorized).toBe(true)
    again.destroy()
  })
})
