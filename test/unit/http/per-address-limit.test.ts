// limitConnectionsPerAddress on a plain TCP server: the cap, the release on close, and the address normalisation.
import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { addressKey, limitConnectionsPerAddress } from '../../../src/http/per-address-limit'

describe('addressKey', () => {
  it.each([
    ['::ffff:192.0.2.7', '192.0.2.7'],
    ['::FFFF:192.0.2.7', '192.0.2.7'],
    ['192.0.2.7', '192.0.2.7'],
    ['2001:DB8::1', '2001:db8::1'],
    ['::1', '::1'],
  ])('counts %s as %s', (address, key) => {
    expect(addressKey(address)).toBe(key)
  })
})

describe('limitConnectionsPerAddress', () => {
  let server: net.Server | undefined
  const sockets: net.Socket[] = []
  afterEach(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise((resolve) => server?.close(resolve))
  })

  /** Resolves with the client socket once connected, and whether the server closed it right away. */
  const connect = (port: number): Promise<{ socket: net.Socket; closed: Promise<void> }> =>
    new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => {
        resolve({ socket, closed: new Promise((done) => socket.once('close', () => { done() })) })
      })
      socket.on('error', () => undefined)
      socket.once('error', reject)
      sockets.push(socket)
    })

  it('closes connections over the cap at once and admits new ones after others close', async () => {
    let refused = 0
    server = net.createServer()
    limitConnectionsPerAddress(server, 2, () => refused++)
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve))
    const address = server.address()
    const port = typeof address === 'object' && address !== null ? address.port : 0

    const first = await connect(port)
    await connect(port)
    const third = await connect(port)
    await third.closed
    expect(refused).toBe(1)

    first.socket.destroy()
    await first.closed
    // The server sees the close a moment after the client.
    await new Promise((resolve) => setTimeout(resolve, 50))
    const fourth = await connect(port)
    const stillOpen = await Promise.race([fourth.closed.then(() => false), new Promise((resolve) => setTimeout(() => { resolve(true) }, 200))])
    expect(stillOpen).toBe(true)
    expect(refused).toBe(1)
  })
})
