// SingleFlight: one task per key in flight, shared by concurrent callers, never cached after it settles.
import { describe, expect, it, vi } from 'vitest'
import { SingleFlight } from '../../../src/gateways/single-flight'

function gate<T>(): { promise: Promise<T>; open(value: T): void; fail(reason: Error): void } {
  let open!: (value: T) => void
  let fail!: (reason: Error) => void
  const promise = new Promise<T>((resolve, reject) => {
    open = resolve
    fail = reject
  })
  return { promise, open, fail }
}

describe('SingleFlight', () => {
  it('runs one task for concurrent calls with the same key and gives them the same result', async () => {
    const flight = new SingleFlight<string>()
    const g = gate<string>()
    const task = vi.fn(() => g.promise)
    const first = flight.run('a', task)
    const second = flight.run('a', task)
    expect(second).toBe(first)
    expect(task).toHaveBeenCalledTimes(1)
    expect(flight.size).toBe(1)
    g.open('result')
    await expect(Promise.all([first, second])).resolves.toEqual(['result', 'result'])
  })

  it('runs tasks for different keys independently', async () => {
    const flight = new SingleFlight<string>()
    const task = vi.fn((value: string) => Promise.resolve(value))
    const [a, b] = await Promise.all([flight.run('a', () => task('A')), flight.run('b', () => task('B'))])
    expect([a, b]).toEqual(['A', 'B'])
    expect(task).toHaveBeenCalledTimes(2)
  })

  it('starts a fresh task once the previous one has settled', async () => {
    const flight = new SingleFlight<number>()
    let calls = 0
    const task = (): Promise<number> => Promise.resolve(++calls)
    await expect(flight.run('a', task)).resolves.toBe(1)
    await expect(flight.run('a', task)).resolves.toBe(2)
    expect(flight.size).toBe(0)
  })

  it('shares a rejection and then frees the key', async () => {
    const flight = new SingleFlight<string>()
    const g = gate<string>()
    const first = flight.run('a', () => g.promise)
    const second = flight.run('a', () => Promise.resolve('never run'))
    g.fail(new Error('mint failed'))
    await expect(first).rejects.toThrow('mint failed')
    await expect(second).rejects.toThrow('mint failed')
    await expect(flight.run('a', () => Promise.resolve('retry'))).resolves.toBe('retry')
  })

  it('turns a synchronous throw into a rejection and frees the key', async () => {
    const flight = new SingleFlight<string>()
    const result = flight.run('a', () => {
      throw new Error('sync')
    })
    await expect(result).rejects.toThrow('sync')
    expect(flight.size).toBe(0)
  })
})
