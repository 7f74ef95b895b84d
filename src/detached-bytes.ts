// detachedCopy and ownAllocation: Buffers that are kept (cached) without keeping Node's shared pool slabs alive.

/**
 * A copy in an allocation of its own. Buffer.from, concat and allocUnsafe hand out small Buffers as slices of a
 * shared pool slab (64 KiB on Node 24): one such slice kept in a cache keeps its whole slab alive, which made
 * 10,000 new gateways cost ~65 KiB each instead of a few (npm run bench, P4).
 */
export function detachedCopy(bytes: Uint8Array): Buffer {
  const copy = Buffer.allocUnsafeSlow(bytes.length)
  copy.set(bytes)
  return copy
}

/** `bytes` itself when it is its allocation's only content, else a detached copy. */
export function ownAllocation(bytes: Buffer): Buffer {
  return bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.length ? bytes : detachedCopy(bytes)
}
