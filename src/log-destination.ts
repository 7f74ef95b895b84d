// LogDestination: where pino writes; it never blocks the event loop or throws, and counts the lines it drops.
import { write as fsWrite, writeSync as fsWriteSync } from 'node:fs'

/** fs.write's callback form; tests pass a fake. */
export type FdWrite = (
  fd: number,
  buffer: Buffer,
  offset: number,
  length: number,
  callback: (err: NodeJS.ErrnoException | null, written: number) => void,
) => void

/** fs.writeSync's form, used only by flushSync. */
export type FdWriteSync = (fd: number, buffer: Buffer, offset: number, length: number) => number

export interface LogDestinationOptions {
  /** Default 1 (stdout). */
  readonly fd?: number
  /** Lines beyond this many bytes waiting to be written are dropped; default 1 MiB. */
  readonly maxQueuedBytes?: number
  /** Wait after EAGAIN (a full non-blocking pipe) before trying again; default 20 ms. */
  readonly retryDelayMs?: number
  readonly write?: FdWrite
  readonly writeSync?: FdWriteSync
}

interface Batch {
  readonly buffer: Buffer
  /** Byte offset in buffer where each line ends; a write failing before an end drops that line. */
  readonly ends: readonly number[]
  /** Bytes before the first line (a newline that ends a line cut short earlier). */
  readonly start: number
  offset: number
}

const DEFAULT_MAX_QUEUED_BYTES = 1024 * 1024
const DEFAULT_RETRY_DELAY_MS = 20
// One write per round trip to the threadpool; larger batches gain little and hold more memory in flight.
const MAX_BATCH_BYTES = 64 * 1024
const NEWLINE = Buffer.from('\n')

/**
 * pino's default destination writes synchronously and retries or fails on the spot: with stdout on /dev/full
 * the server never got as far as listening, and a pipe nobody reads stalls the event loop. Here lines queue in memory
 * (bounded), one fs.write runs at a time in the threadpool, EAGAIN is retried after a pause, and any other
 * error (ENOSPC, EPIPE, EBADF, EIO) drops the batch it hit; the next lines are tried again, so logging
 * resumes by itself once the destination recovers. Every line is one pino write call, so drops count lines.
 *
 * A pipe or socket on fd 1 must be non-blocking, or a full one ties up a threadpool thread (never the event
 * loop) and flushSync could hang at exit: Node makes it so when process.stdout is first used (index.ts does).
 */
export class LogDestination {
  private readonly fd: number
  private readonly maxQueuedBytes: number
  private readonly retryDelayMs: number
  private readonly fdWrite: FdWrite
  private readonly fdWriteSync: FdWriteSync
  private queue: Buffer[] = []
  /** Bytes in the queue plus the unwritten rest of the batch; what maxQueuedBytes bounds. */
  private pendingBytes = 0
  /** The batch being written, or waiting for its retry after EAGAIN. */
  private batch: Batch | undefined
  private retryTimer: NodeJS.Timeout | undefined
  /** A batch failed in the middle of a line: the next batch starts with a newline so later lines parse. */
  private cutLine = false
  private droppedLines = 0
  private lastErrorCode: string | undefined
  /** flush callbacks waiting for the queue to empty. */
  private idleWaiters: (() => void)[] = []

  constructor(options: LogDestinationOptions = {}) {
    this.fd = options.fd ?? 1
    this.maxQueuedBytes = options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES
    this.retryDelayMs = options.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS
    this.fdWrite = options.write ?? fsWrite
    this.fdWriteSync = options.writeSync ?? fsWriteSync
  }

  /** Lines dropped so far: queue full, or the write that carried them failed. */
  get dropped(): number {
    return this.droppedLines
  }

  /** Bytes accepted but not yet written. */
  get queuedBytes(): number {
    return this.pendingBytes
  }

  /** The code of the last write error that dropped lines (EAGAIN never does). */
  get lastError(): string | undefined {
    return this.lastErrorCode
  }

  write(line: string): void {
    const buffer = Buffer.from(line)
    if (this.pendingBytes + buffer.length > this.maxQueuedBytes) {
      this.droppedLines++
      return
    }
    this.queue.push(buffer)
    this.pendingBytes += buffer.length
    this.pump()
  }

  /**
   * Calls back once every line accepted so far is written or dropped, or with an Error after timeoutMs (a pipe
   * nobody reads never empties). Exit through this, not process.exit alone: an exit while a write is in the
   * threadpool loses that write (measured: the last line was missing after 22 of 70 immediate exits).
   */
  flush(callback: (err?: Error) => void, timeoutMs = 1000): void {
    let called = false
    const once = (err?: Error): void => {
      if (called) return
      called = true
      clearTimeout(timer)
      callback(err)
    }
    const timer = setTimeout(() => {
      this.idleWaiters = this.idleWaiters.filter((waiter) => waiter !== done)
      once(new Error(`log destination still busy after ${timeoutMs} ms`))
    }, timeoutMs)
    timer.unref()
    const done = (): void => {
      once()
    }
    this.idleWaiters.push(done)
    // Never calls back synchronously, even when there is nothing to wait for.
    process.nextTick(() => {
      this.pump()
    })
  }

  /**
   * Best effort at exit, when callbacks no longer run: writes what is queued with writeSync and stops at the
   * first error. Does nothing while a write is in the threadpool, since writing now could reorder lines.
   */
  flushSync(): void {
    if (this.batch !== undefined && this.retryTimer === undefined) return
    clearTimeout(this.retryTimer)
    this.retryTimer = undefined
    for (let batch = this.batch ?? this.takeBatch(); batch !== undefined; batch = this.takeBatch()) {
      this.batch = batch
      while (batch.offset < batch.buffer.length) {
        let written: number
        try {
          written = this.fdWriteSync(this.fd, batch.buffer, batch.offset, batch.buffer.length - batch.offset)
        } catch (err) {
          this.dropBatch(batch, (err as NodeJS.ErrnoException).code)
          this.dropQueue()
          return
        }
        if (written <= 0) {
          this.dropBatch(batch, undefined)
          this.dropQueue()
          return
        }
        batch.offset += written
        this.pendingBytes -= written
      }
      this.batch = undefined
    }
  }

  private pump(): void {
    if (this.batch !== undefined) return
    this.batch = this.takeBatch()
    if (this.batch !== undefined) {
      this.writeBatch(this.batch)
      return
    }
    const waiters = this.idleWaiters
    this.idleWaiters = []
    for (const waiter of waiters) waiter()
  }

  private takeBatch(): Batch | undefined {
    if (this.queue.length === 0) return undefined
    const parts: Buffer[] = []
    const ends: number[] = []
    let length = 0
    if (this.cutLine) {
      parts.push(NEWLINE)
      length = NEWLINE.length
      this.pendingBytes += NEWLINE.length
      this.cutLine = false
    }
    const start = length
    let count = 0
    for (const line of this.queue) {
      if (count > 0 && length + line.length > MAX_BATCH_BYTES) break
      parts.push(line)
      length += line.length
      ends.push(length)
      count++
    }
    this.queue.splice(0, count)
    return { buffer: Buffer.concat(parts, length), ends, start, offset: 0 }
  }

  private writeBatch(batch: Batch): void {
    try {
      this.fdWrite(this.fd, batch.buffer, batch.offset, batch.buffer.length - batch.offset, (err, written) => {
        this.onWritten(batch, err, written)
      })
    } catch (err) {
      // A synchronous throw (e.g. a closed fd's validation) is handled like a failed write, but never re-entrantly.
      process.nextTick(() => {
        this.onWritten(batch, err as NodeJS.ErrnoException, 0)
      })
    }
  }

  private onWritten(batch: Batch, err: NodeJS.ErrnoException | null, written: number): void {
    if (err === null && written > 0) {
      batch.offset += written
      this.pendingBytes -= written
      if (batch.offset < batch.buffer.length) {
        this.writeBatch(batch)
        return
      }
      this.batch = undefined
      this.pump()
      return
    }
    // Nothing written without an error is a full destination too; waiting avoids a busy loop.
    if (err === null || err.code === 'EAGAIN' || err.code === 'EWOULDBLOCK') {
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined
        this.writeBatch(batch)
      }, this.retryDelayMs)
      // Waiting to log must never keep the process alive; flushSync makes the last attempt at exit.
      this.retryTimer.unref()
      return
    }
    this.dropBatch(batch, err.code ?? err.message)
    this.batch = undefined
    this.pump()
  }

  /** Counts the lines of batch not completely written, and remembers to end a line cut in the middle. */
  private dropBatch(batch: Batch, code: string | undefined): void {
    this.droppedLines += batch.ends.filter((end) => end > batch.offset).length
    this.pendingBytes -= batch.buffer.length - batch.offset
    if (batch.offset > batch.start && !batch.ends.includes(batch.offset)) this.cutLine = true
    if (code !== undefined) this.lastErrorCode = code
    this.batch = undefined
  }

  private dropQueue(): void {
    this.droppedLines += this.queue.length
    for (const line of this.queue) this.pendingBytes -= line.length
    this.queue = []
  }
}
