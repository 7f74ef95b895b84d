// Over real TLS on 127.0.0.1: one address cannot hold more than MAX_CONNECTIONS_PER_ADDRESS, and a handshake that never finishes is cut at TLS_HANDSHAKE_TIMEOUT_MS.
import net from 'node:net'
import tls from 'node:tls'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { adminGet } from '../../support/admin-get'
import { counterValue } from '../../support/spawn-server'
import { startTestServer } from '../../support/test-server'
import type { TestServer } from '../../support/test-server'

/** Resolves with how long the server took to close the connection. */
function whenClosed(socket: net.Socket): Promise<number> {
  const started = Date.now()
  return new Promise((resolve) => {
    socket.on('close', () => {
      resolve(Date.now() - started)
    })
    socket.on('error', () => undefined)
  })
}

function connectTls(server: TestServer): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: server.port, servername: 'localhost', ca: server.caPem }, () => {
      resolve(socket)
    })
    socket.once('error', reject)
  })
}

/** One keep-alive request on an open TLS connection; resolves with the status line and body. */
function request(socket: tls.TLSSocket, urlPath: string): Promise<{ status: string; body: string }> {
  return new Promise((resolve, reject) => {
    let received = ''
    const onData = (chunk: Buffer): void => {
      received += chunk.toString('utf8')
      const headerEnd = received.indexOf('\r\n\r\n')
      const length = /content-length: (\d+)/i.exec(received)
      if (headerEnd < 0 || length === null) return
      const body = received.slice(headerEnd + 4)
      if (Buffer.byteLength(body) < Number(length[1])) return
      socket.off('data', onData)
      resolve({ status: received.slice(0, received.indexOf('\r\n')), body })
    }
    socket.on('data', onData)
    socket.once('error', reject)
    socket.write(`GET ${urlPath} HTTP/1.1\r\nHost: localhost\r\n\r\n`)
  })
}

describe('MAX_CONNECTIONS_PER_ADDRESS', () => {
  let server: TestServer
  const held: tls.TLSSocket[] = []

  beforeAll(async () => {
    // A handshake timeout far above "at once", so a refusal cannot be mistaken for it.
    server = await startTestServer({ MAX_CONNECTIONS_PER_ADDRESS: '3', TLS_HANDSHAKE_TIMEOUT_MS: '5000', IDLE_TIMEOUT_MS: '15000' })
  })
  afterAll(async () => {
    for (const socket of held) socket.destroy()
    await server.stop()
  })

  it('closes the connection over the cap at once, while the held ones are still answered', async () => {
    held.push(await connectTls(server), await connectTls(server), await connectTls(server))

    const extra = net.connect({ host: '127.0.0.1', port: server.port })
    expect(await whenClosed(extra)).toBeLessThan(500)
    // A TLS client over the cap never completes a handshake either.
    await expect(connectTls(server)).rejects.toThrow(/ECONNRESET|socket hang up|disconnected/)

    // Answered (the gateway port has nothing but /update-info, so a GET is a 404), not cut off.
    for (const socket of held) expect((await request(socket, '/')).status).toBe('HTTP/1.1 404 Not Found')
    const metrics = await adminGet(server.adminPort, '/metrics')
    expect(counterValue(metrics.body, 'cups_connections_refused_total{reason="per_address"}')).toBe(2)
  })

  it('admits the address again as soon as one of its connections closes', async () => {
    const closing = held.pop()
    closing?.destroy()
    // The server sees the close a moment after the client does.
    await new Promise((resolve) => setTimeout(resolve, 100))
    const again = await connectTls(server)
    held.push(again)
    expect(again.authorized).toBe(true)
    expect((await request(again, '/')).status).toBe('HTTP/1.1 404 Not Found')
  })
})

describe('MAX_CONNECTIONS refusals', () => {
  it('are counted too, under their own reason', async () => {
    const server = await startTestServer({ MAX_CONNECTIONS: '2' })
    const sockets: tls.TLSSocket[] = []
    try {
      sockets.push(await connectTls(server), await connectTls(server))
      expect(await whenClosed(net.connect({ host: '127.0.0.1', port: server.port }))).toBeLessThan(500)
      const metrics = (await adminGet(server.adminPort, '/metrics')).body
      expect(counterValue(metrics, 'cups_connections_refused_total{reason="max_connections"}')).toBe(1)
      expect(counterValue(metrics, 'cups_connections_refused_total{reason="per_address"}')).toBe(0)
    } finally {
      for (const socket of sockets) socket.destroy()
      await server.stop()
    }
  })
})

describe('TLS_HANDSHAKE_TIMEOUT_MS', () => {
  let server: TestServer

  beforeAll(async () => {
    server = await startTestServer({ TLS_HANDSHAKE_TIMEOUT_MS: '1000', IDLE_TIMEOUT_MS: '4000' })
  })
  afterAll(async () => {
    await server.stop()
  })

  it.each([
    ['sends nothing at all', Buffer.alloc(0)],
    // A TLS handshake record header promising 512 bytes of ClientHello that never come.
    ['sends half a ClientHello and stops', Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00])],
  ])('closes a TCP connection that %s after the handshake timeout, long before the idle timeout', async (_name, bytes) => {
    const socket = net.connect({ host: '127.0.0.1', port: server.port }, () => {
      if (bytes.length > 0) socket.write(bytes)
    })
    const afterMs = await whenClosed(socket)
    expect(afterMs).toBeGreaterThan(800)
    expect(afterMs).toBeLessThan(2500)
  })

  it('gives a connection that finished its handshake the idle timeout instead', async () => {
    const afterMs = await whenClosed(await connectTls(server))
    expect(afterMs).toBeGreaterThan(3000)
    expect(afterMs).toBeLessThan(7000)
  })
})
