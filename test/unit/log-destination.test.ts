// LogDestination against real files (/dev/full, a descriptor that is not open, a FIFO nobody reads) and a fake writer.
import { execFileSync } from 'node:child_process'
import { closeSync, constants, mkdtempSync, openSync, readFileSync, readSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { LogDestination } from '../../src/log-destination'
import type { FdWrite } from '../../src/log-destination'
import { createLogger } from '../../src/logger'

/** A line as pino writes it: one JSON object and a newline. */
const line = (i: number, padding = 0): string => `${JSON.stringify({ level: 30, i, pad: 'x'.repeat(padding) })}\n`

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await sleep(5)
  }
}

interface FakeCall {
  readonly data: Buffer
  readonly done: (err: NodeJS.ErrnoException | null, written: number) => void
}

/** A writer that answers only when the test says so, so every interleaving can be played. */
function fakeWriter(): { write: FdWrite; calls: FakeCall[]; inFlight: () => number } {
  const calls: FakeCall[] = []
  let pending = 0
  const write: FdWrite = (_fd, buffer, offset, length, callback) => {
    pending++
    calls.push({
      data: Buffer.from(buffer.subarray(offset, offset + length)),
      done: (err, written) => {
        pending--
        callback(err, written)
      },
    })
  }
  return { write, calls, inFlight: () => pending }
}

const errno = (code: string): NodeJS.ErrnoException => Object.assign(new Error(code), { code })

describe('LogDestination on real files', () => {
  let dir: string
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'cups-logdest-'))
  })
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true })
  })

  it('writes every line, in order, to a regular file', async () => {
    const file = path.join(dir, 'log')
    const fd = openSync(file, 'w')
    const destination = new LogDestination({ fd })
    for (let i = 0; i < 5000; i++) destination.write(line(i))
    await until(() => destination.queuedBytes === 0)
    closeSync(fd)
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n')
    expect(lines).toHaveLength(5000)
    expect(lines.map((text) => (JSON.parse(text) as { i: number }).i)).toEqual([...Array(5000).keys()])
    expect(destination.dropped).toBe(0)
  })

  it('drops and counts every line on a full disk (/dev/full, ENOSPC) without throwing', async () => {
    const fd = openSync('/dev/full', 'w')
    try {
      const destination = new LogDestination({ fd })
      for (let i = 0; i < 1000; i++) destination.write(line(i))
      await until(() => destination.queuedBytes === 0)
      expect(destination.dropped).toBe(1000)
      expect(destination.lastError).toBe('ENOSPC')
    } finally {
      closeSync(fd)
    }
  })

  it('drops and counts lines on a descriptor that is not open (EBADF) or not even valid', async () => {
    const notOpen = new LogDestination({ fd: 2 ** 30 })
    // Out of range: fs.write throws synchronously instead of calling back.
    const invalid = new LogDestination({ fd: 2 ** 31 })
    for (let i = 0; i < 100; i++) {
      notOpen.write(line(i))
      invalid.write(line(i))
    }
    await until(() => notOpen.queuedBytes === 0 && invalid.queuedBytes === 0)
    expect([notOpen.dropped, notOpen.lastError]).toEqual([100, 'EBADF'])
    expect([invalid.dropped, invalid.lastError]).toEqual([100, 'ERR_OUT_OF_RANGE'])
  })

  it('never blocks on a pipe nobody reads, drops what does not fit, and catches up once it is read', async () => {
    const fifo = path.join(dir, 'fifo')
    execFileSync('mkfifo', [fifo])
    // The read end first, non-blocking, so opening the write end does not wait for a reader.
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK)
    const writer = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK)
    try {
      const destination = new LogDestination({ fd: writer, maxQueuedBytes: 128 * 1024, retryDelayMs: 5 })
      const started = performance.now()
      for (let i = 0; i < 4000; i++) destination.write(line(i, 1000))
      const writeMs = performance.now() - started
      // 4 MB offered; a pipe holds 64 KiB and the queue 128 KiB, so most lines are dropped, not waited for.
      await until(() => destination.dropped > 3000)
      const loopStarted = performance.now()
      await sleep(20)
      const loopLagMs = performance.now() - loopStarted - 20
      expect(writeMs).toBeLessThan(1000)
      expect(loopLagMs).toBeLessThan(100)
      expect(destination.queuedBytes).toBeGreaterThan(0)
      expect(destination.lastError).toBeUndefined()

      // Read the pipe empty, again and again, until the queue has drained; then new lines go through.
      const chunks: Buffer[] = []
      const drain = (): void => {
        const buffer = Buffer.alloc(65536)
        for (;;) {
          try {
            const n = readSync(reader, buffer, 0, buffer.length, null)
            if (n === 0) return
            chunks.push(Buffer.from(buffer.subarray(0, n)))
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return
            throw err
          }
        }
      }
      const droppedBefore = destination.dropped
      await until(() => {
        drain()
        return destination.queuedBytes === 0
      })
      destination.write(line(99999))
      await until(() => {
        drain()
        return destination.queuedBytes === 0
      })
      drain()
      const lines = Buffer.concat(chunks).toString('utf8').trimEnd().split('\n')
      const numbers = lines.map((text) => (JSON.parse(text) as { i: number }).i)
      expect(numbers.at(-1)).toBe(99999)
      expect(numbers.length + droppedBefore).toBe(4001)
      expect(destination.dropped).toBe(droppedBefore)
    } finally {
      closeSync(writer)
      closeSync(reader)
    }
  })

  it('carries pino lines: createLogger writes JSON through it', async () => {
    const file = path.join(dir, 'pino')
    const fd = openSync(file, 'w')
    const destination = new LogDestination({ fd })
    const log = createLogger('info', destination)
    log.info({ gateway: { key: 'secret' } }, 'hello')
    await until(() => destination.queuedBytes === 0)
    closeSync(fd)
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ msg: 'hello', gateway: { key: '[redacted]' } })
  })
})

describe('LogDestination with a fake writer', () => {
  it('keeps at most one write in flight and batches what queues meanwhile', () => {
    const fake = fakeWriter()
    const destination = new LogDestination({ write: fake.write })
    destination.write('a\n')
    destination.write('b\n')
    destination.write('c\n')
    expect(fake.calls.map((call) => call.data.toString())).toEqual(['a\n'])
    fake.calls[0]?.done(null, 2)
    expect(fake.calls.map((call) => call.data.toString())).toEqual(['a\n', 'b\nc\n'])
    expect(fake.inFlight()).toBe(1)
  })

  it('drops lines beyond the queue bound and counts them, while a write hangs', () => {
    const fake = fakeWriter()
    const destination = new LogDestination({ write: fake.write, maxQueuedBytes: 100 })
    for (let i = 0; i < 50; i++) destination.write('0123456789\n')
    // 9 lines of 11 bytes fit in 100; the writer never answers, so nothing frees up.
    expect(destination.queuedBytes).toBe(99)
    expect(destination.dropped).toBe(41)
    expect(fake.calls).toHaveLength(1)
  })

  it('writes again once a failing destination recovers (disk full, then space again)', () => {
    const fake = fakeWriter()
    const destination = new LogDestination({ write: fake.write })
    destination.write('one\n')
    destination.write('two\n')
    destination.write('three\n')
    fake.calls[0]?.done(errno('ENOSPC'), 0)
    fake.calls[1]?.done(errno('ENOSPC'), 0)
    expect([destination.dropped, destination.lastError, destination.queuedBytes]).toEqual([3, 'ENOSPC', 0])
    destination.write('four\n')
    fake.calls[2]?.done(null, 5)
    expect(fake.calls.map((call) => call.data.toString())).toEqual(['one\n', 'two\nthree\n', 'four\n'])
    expect([destination.dropped, destination.queuedBytes]).toEqual([3, 0])
  })

  it('continues a partial write, and after an error mid-line starts the next batch on a new line', () => {
    const fake = fakeWriter()
    const destination = new LogDestination({ write: fake.write })
    destination.write('first\n')
    destination.write('second\n')
    fake.calls[0]?.done(null, 6)
    expect(fake.calls[1]?.data.toString()).toBe('second\n')
    fake.calls[1]?.done(null, 3)
    expect(fake.calls[2]?.data.toString()).toBe('ond\n')
    fake.calls[2]?.done(errno('EIO'), 0)
    expect(destination.dropped).toBe(1)
    destination.write('third\n')
    // "sec" reached the file: the newline ends it, so "third" parses as a line of its own.
    expect(fake.calls[3]?.data.toString()).toBe('\nthird\n')
  })

  it('retries after EAGAIN instead of dropping', async () => {
    const fake = fakeWriter()
    const destination = new LogDestination({ write: fake.write, retryDelayMs: 5 })
    destination.write('line\n')
    fake.calls[0]?.done(errno('EAGAIN'), 0)
    expect(fake.calls).toHaveLength(1)
    await until(() => fake.calls.length === 2)
    expect(fake.calls[1]?.data.toString()).toBe('line\n')
    fake.calls[1]?.done(null, 5)
    expect([destination.dropped, destination.queuedBytes]).toEqual([0, 0])
  })

  it('flushSync at exit writes what waits, but leaves a write in flight alone', () => {
    const fake = fakeWriter()
    const synced: string[] = []
    const writeSync = (_fd: number, buffer: Buffer, offset: number, length: number): number => {
      synced.push(buffer.subarray(offset, offset + length).toString())
      return length
    }
    const destination = new LogDestination({ write: fake.write, writeSync, retryDelayMs: 60_000 })
    destination.write('a\n')
    destination.write('b\n')
    destination.flushSync()
    expect(synced).toEqual([])
    // After EAGAIN the batch waits for its retry: at exit that wait never ends, so flushSync writes it.
    fake.calls[0]?.done(null, 2)
    fake.calls[1]?.done(errno('EAGAIN'), 0)
    destination.write('c\n')
    destination.flushSync()
    expect(synced).toEqual(['b\n', 'c\n'])
    expect(destination.queuedBytes).toBe(0)
  })
})
