// limitConnectionsPerAddress: at most N open connections per client address, refused at TCP accept.
import type { Server, Socket } from 'node:net'

const IPV4_MAPPED = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i

/** The address a cap counts against: an IPv4-mapped IPv6 address is the IPv4 address it maps. */
export function addressKey(address: string): string {
  return IPV4_MAPPED.exec(address)?.[1] ?? address.toLowerCase()
}

/**
 * MAX_CONNECTIONS alone lets one client take every slot; this keeps room for the rest. Sockets over the cap
 * are destroyed as soon as they are accepted, before a byte of TLS, and reported through onRefused. Counting happens on the raw socket,
 * whose 'close' fires however the connection ends (TLS failure, timeout, keep-alive end, server close).
 */
export function limitConnectionsPerAddress(server: Server, max: number, onRefused: () => void): void {
  const open = new Map<string, number>()
  server.on('connection', (socket: Socket) => {
    // Undefined once the peer has already gone; there is nothing left to count or refuse.
    if (socket.remoteAddress === undefined) return
    const key = addressKey(socket.remoteAddress)
    const count = open.get(key) ?? 0
    if (count >= max) {
      socket.destroy()
      onRefused()
      return
    }
    open.set(key, count + 1)
    socket.once('close', () => {
      const left = (open.get(key) ?? 1) - 1
      if (left === 0) open.delete(key)
      else open.set(key, left)
    })
  })
}
