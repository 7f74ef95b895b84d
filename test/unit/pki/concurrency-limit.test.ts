// ConcurrencyLimit: the bound, FIFO start order, slots freed on success, rejection and throw, abandoned tasks skipped.
import { describe, expect, it } from 'vitest'
import { ConcurrencyLimit } from '../../../src/pki/concurrency-limit'

interface Deferred<T> {
  readonly promise: Promise<T>
  resolve(value: T): void
  reject(reason: Error): void
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void
  let reject!: (reason: Error) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

/** Lets every queued microtask and promise continuation run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

describe('ConcurrencyLimit', () => {
  it.each([0, -1, 1.5, Number.NaN])('refuses max = %s', (max) => {
    expect(() => new ConcurrencyLimit(max)).toThrow(RangeError)
  })

  it('runs at most max tasks at once and starts the rest in arrival order', async () => {
    const limit = new ConcurrencyLimit(2)
    const gates = Array.from({ length: 5 }, () => deferred<number>())
    const started: number[] = []
    let running = 0
    let maxRunning = 0
    const results = gates.map((gate, i) =>
      limit.run(async () => {
        started.push(i)
        running++
        maxRunning = Math.max(maxRunning, running)
        try {
          return await gate.promise
        } finally {
          running--
        }
      }),
    )
    await settle()
    expect(started).toEqual([0, 1])
    expect([limit.active, limit.pending]).toEqual([2, 3])

    // Finishing the second task frees one slot, taken by the first waiter (task 2), not a later one.
    gates[1]?.resolve(1)
    await settle()
    expect(started).toEqual([0, 1, 2])
    gates[0]?.resolve(0)
    await settle()
    expect(started).toEqual([0, 1, 2, 3])
    for (const [i, gate] of gates.entries()) gate.resolve(i)

    await expect(Promise.all(results)).resolves.toEqual([0, 1, 2, 3, 4])
    expect(started).toEqual([0, 1, 2, 3, 4])
    expect(maxRunning).toBe(2)
    expect([limit.active, limit.pending]).toEqual([0, 0])
  })

  it('passes a rejection through and frees the slot', async () => {
    const limit = new ConcurrencyLimit(1)
    const failing = limit.run(() => Promise.reject(new Error('boom')))
    const next = limit.run(() => Promise.resolve('next'))
    await expect(failing).rejects.toThrow('boom')
    await expect(next).resolves.toBe('next')
    expect(limit.active).toBe(0)
  })

  it('treats a synchronous throw as a rejection and frees the slot', async () => {
    const limit = new ConcurrencyLimit(1)
    const throwing = limit.run((): Promise<string> => {
      throw new Error('sync')
    })
    await expect(throwing).rejects.toThrow('sync')
    await expect(limit.run(() => Promise.resolve('after'))).resolves.toBe('after')
    expect(limit.active).toBe(0)
  })

  it('does not start a queued task whose signal fired while it waited, and passes its slot on', async () => {
    const limit = new ConcurrencyLimit(1)
    const first = deferred<string>()
    const running = limit.run(() => first.promise)
    const answered = new AbortController()
    let started = false
    const abandoned = limit.run(() => {
      started = true
      return Promise.resolve('too late')
    }, answered.signal)
    const after = limit.run(() => Promise.resolve('after'))
    answered.abort()
    first.resolve('first')
    await expect(running).resolves.toBe('first')
    await expect(abandoned).rejects.toThrow()
    await expect(after).resolves.toBe('after')
    expect(started).toBe(false)
    expect(limit.active).toBe(0)
  })
})
