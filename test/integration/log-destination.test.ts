// The real server process with stdout on a full disk, on a pipe nobody reads, on a pipe whose reader left: it keeps answering and counts what it drops.
import { execFileSync } from 'node:child_process'
import { closeSync, constants, openSync, readSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../support/free-port'
import { adminGet } from '../support/admin-get'
import { counterValue, httpsGet, spawnServer, waitUntilReady } from '../support/spawn-server'
import type { SpawnedServer } from '../support/spawn-server'
import { StationSimulator } from '../support/station-simulator'
import { startTestServer } from '../support/test-server'

const DROPPED = 'cups_log_lines_dropped_total'
/** A request for a path that does not exist is logged with its URL in full, so a few hundred make megabytes of log. */
const PADDING = 'p'.repeat(8000)
const REQUESTS = 300

describe('a server whose log destination fails', () => {
  let home: string
  let caPem: Buffer

  beforeAll(async () => {
    home = await mkdtemp(path.join(os.tmpdir(), 'cups-logdest-'))
    // One PKI for every child, generated in-process: the children start faster and share the same CA.
    const first = await startTestServer({}, home)
    await first.stop()
    caPem = await readFile(path.join(home, 'certs', 'ca.crt'))
  })
  afterAll(async () => {
    await rm(home, { recursive: true, force: true })
  })

  interface Started {
    readonly server: SpawnedServer
    readonly port: number
    readonly adminPort: number
  }

  /** Starts a child on stdout; returns it with its ports once /readyz answers. */
  const start = async (name: string, stdout: number): Promise<Started> => {
    const port = await freePort()
    const adminPort = await freePort()
    const server = spawnServer({
      cwd: home,
      stdout,
      env: {
        PORT: String(port),
        ADMIN_PORT: String(adminPort),
        CERT_PATH: path.join(home, 'certs'),
        DATA_DIR: path.join(home, `data-${name}`),
        TC_URI: 'wss://localhost:8887',
        BOOTSTRAP_POLICY: 'open',
        LOG_LEVEL: 'trace',
      },
    })
    try {
      await waitUntilReady(server, adminPort)
    } catch (err) {
      await server.stop()
      throw err
    }
    return { server, port, adminPort }
  }

  /** REQUESTS requests with long URLs (404: only /update-info exists), then a real CUPS contact (200); all answered. */
  const load = async (port: number, name: string): Promise<{ statuses: Set<number>; slowestMs: number }> => {
    const statuses = new Set<number>()
    let slowestMs = 0
    for (let i = 0; i < REQUESTS; i++) {
      const started = performance.now()
      statuses.add((await httpsGet(port, `/padding?i=${i}&pad=${PADDING}`, caPem)).status)
      slowestMs = Math.max(slowestMs, performance.now() - started)
    }
    const station = new StationSimulator({ router: '::1', home: path.join(home, `station-${name}`) })
    await station.setFile('cups.uri', `https://localhost:${port}`)
    await station.setFile('cups.trust', caPem)
    statuses.add((await station.contact()).status)
    return { statuses, slowestMs }
  }

  const dropped = async (adminPort: number): Promise<number> => {
    const metrics = await adminGet(adminPort, '/metrics')
    expect(metrics.status).toBe(200)
    return counterValue(metrics.body, DROPPED)
  }

  it('keeps answering with stdout on a full disk (/dev/full: ENOSPC) and counts every line it drops', async () => {
    const full = openSync('/dev/full', 'w')
    let started: Started | undefined
    try {
      started = await start('full', full)
      const { port, adminPort, server } = started
      const before = await dropped(adminPort)
      const { statuses, slowestMs } = await load(port, 'full')
      expect([...statuses]).toEqual([404, 200])
      expect(slowestMs).toBeLessThan(2000)
      // Every line is dropped: at least the one line per request.
      expect((await dropped(adminPort)) - before).toBeGreaterThanOrEqual(REQUESTS)
      expect(server.child.exitCode).toBeNull()
    } finally {
      closeSync(full)
      await started?.server.stop()
    }
  })

  it('keeps answering with stdout on a pipe nobody reads, and writes again once it is read', async () => {
    const fifo = path.join(home, 'stdout.fifo')
    execFileSync('mkfifo', [fifo])
    // The read end first and non-blocking, so opening the write end does not wait; it is never read until the end.
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK)
    const writer = openSync(fifo, constants.O_WRONLY)
    let started: Started | undefined
    try {
      started = await start('unread', writer)
      closeQuietly(writer)
      const { port, adminPort, server } = started
      const { statuses, slowestMs } = await load(port, 'unread')
      expect([...statuses]).toEqual([404, 200])
      expect(slowestMs).toBeLessThan(2000)
      // ~5 MB of log against a 64 KiB pipe and a 1 MiB queue.
      const droppedWhileStuck = await dropped(adminPort)
      expect(droppedWhileStuck).toBeGreaterThan(REQUESTS / 2)
      expect(server.child.exitCode).toBeNull()

      // Now read: the queue drains into the pipe, and a request made once it is empty is logged again.
      let text = ''
      const buffer = Buffer.alloc(1 << 16)
      const marker = `after-drain-${Date.now()}`
      let droppedAfterDrain: number | undefined
      let lastDataAt = Date.now()
      const deadline = Date.now() + 20_000
      while (!text.includes(marker)) {
        if (Date.now() > deadline) throw new Error('the request made after draining was never logged')
        let n = 0
        try {
          n = readSync(reader, buffer, 0, buffer.length, null)
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err
        }
        if (n > 0) lastDataAt = Date.now()
        // Keep only a tail: the marker is in the last lines, and the drained queue is megabytes.
        text = (text + buffer.toString('utf8', 0, n)).slice(-200_000)
        // Quiet for far longer than the destination's EAGAIN retry (20 ms): its queue is empty.
        if (n === 0 && droppedAfterDrain === undefined && Date.now() - lastDataAt > 300) {
          droppedAfterDrain = await dropped(adminPort)
          expect((await httpsGet(port, `/padding?${marker}`, caPem)).status).toBe(404)
        } else if (n === 0) {
          await new Promise((resolve) => setTimeout(resolve, 20))
        }
      }
      // Nothing more was lost once the pipe was read.
      expect(droppedAfterDrain).toBeGreaterThanOrEqual(droppedWhileStuck)
      expect(await dropped(adminPort)).toBe(droppedAfterDrain)
      const markerLine = text.split('\n').find((line) => line.includes(marker))
      expect(JSON.parse(markerLine ?? '')).toMatchObject({ msg: 'request', status: 404 })
    } finally {
      closeQuietly(writer)
      closeQuietly(reader)
      await started?.server.stop()
    }
  })

  it('keeps answering when the reader of its stdout pipe goes away (EPIPE)', async () => {
    const fifo = path.join(home, 'gone.fifo')
    execFileSync('mkfifo', [fifo])
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK)
    const writer = openSync(fifo, constants.O_WRONLY)
    let started: Started | undefined
    try {
      started = await start('gone', writer)
      closeQuietly(writer)
      closeQuietly(reader)
      const { port, adminPort, server } = started
      const { statuses } = await load(port, 'gone')
      expect([...statuses]).toEqual([404, 200])
      expect(await dropped(adminPort)).toBeGreaterThanOrEqual(REQUESTS)
      expect(server.child.exitCode).toBeNull()
    } finally {
      closeQuietly(writer)
      closeQuietly(reader)
      await started?.server.stop()
    }
  })
})

/** Closes fd unless this test already did. */
function closeQuietly(fd: number): void {
  try {
    closeSync(fd)
  } catch {
    // EBADF: closed already
  }
}
