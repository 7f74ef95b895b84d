// routeWarningsToLog: process warnings (the AWS SDK's Node version warning among them) and console output arrive as pino lines, nothing raw.
import { S3Client } from '@aws-sdk/client-s3'
import pino from 'pino'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { MockInstance } from 'vitest'
import { routeWarningsToLog } from '../../../src/route-warnings'

type Line = Record<string, unknown>

const capture = (level = 'info'): { lines: Line[]; log: pino.Logger } => {
  const lines: Line[] = []
  const log = pino({ level }, { write: (line: string) => lines.push(JSON.parse(line) as Line) })
  return { lines, log }
}

// A warning is delivered on a later tick, as Node does.
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

let undo: (() => void) | undefined
let stdout: MockInstance<typeof process.stdout.write>
let stderr: MockInstance<typeof process.stderr.write>

beforeEach(() => {
  stdout = vi.spyOn(process.stdout, 'write')
  stderr = vi.spyOn(process.stderr, 'write')
})

afterEach(() => {
  undo?.()
  undo = undefined
  vi.restoreAllMocks()
  vi.unstubAllEnvs()
})

const nothingRaw = (): void => {
  expect(stdout).not.toHaveBeenCalled()
  expect(stderr).not.toHaveBeenCalled()
}

describe('routeWarningsToLog: process warnings', () => {
  it('logs the AWS SDK NodeVersionSupportWarning (a real S3Client on a Node it calls too old) as one warn line', async () => {
    const { lines, log } = capture()
    undo = routeWarningsToLog(log)
    vi.stubEnv('AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED', undefined)
    const version = Object.getOwnPropertyDescriptor(process, 'version')
    // The client reads process.version when it is constructed and emits through process.emitWarning.
    Object.defineProperty(process, 'version', { ...version, value: 'v20.19.0' })
    try {
      new S3Client({ region: 'us-east-1' }).destroy()
    } finally {
      if (version !== undefined) Object.defineProperty(process, 'version', version)
    }
    await nextTurn()
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatchObject({ level: 40, source: 'process-warning', warning: { name: 'NodeVersionSupportWarning' } })
    // Eight lines of prose, read as one.
    expect(lines[0]?.msg).toMatch(/^The AWS SDK for JavaScript \(v3\) versions published after .* will require node >=22\. You are running node v20\.19\.0\. To continue/)
    expect(lines[0]?.msg).not.toContain('\n')
    nothingRaw()
  })

  it('keeps name, code and detail (Fastify and Node deprecations), and the stack only at debug', async () => {
    const quiet = capture('info')
    undo = routeWarningsToLog(quiet.log)
    process.emitWarning('request.routerPath is deprecated', 'DeprecationWarning', 'FSTDEP017')
    process.emitWarning('something experimental', { type: 'ExperimentalWarning', detail: 'try it at your own risk' })
    await nextTurn()
    expect(quiet.lines).toEqual([
      expect.objectContaining({ level: 40, msg: 'request.routerPath is deprecated', warning: { name: 'DeprecationWarning', code: 'FSTDEP017' } }),
      expect.objectContaining({ level: 40, msg: 'something experimental', warning: { name: 'ExperimentalWarning', detail: 'try it at your own risk' } }),
    ])
    undo()

    const verbose = capture('debug')
    undo = routeWarningsToLog(verbose.log)
    process.emitWarning('with a stack')
    await nextTurn()
    expect((verbose.lines[0]?.warning as { stack?: string }).stack).toMatch(/^Warning: with a stack\n {4}at /)
    nothingRaw()
  })
})

describe('routeWarningsToLog: the console', () => {
  it('turns each console call into one line at the matching level, formatted as util.format does', () => {
    const { lines, log } = capture('debug')
    undo = routeWarningsToLog(log)
    console.log('hello %s', 'world')
    console.info('n=%d', 42)
    console.warn('careful', { depth: 1 })
    console.error(new Error('broken'))
    console.debug('details')
    expect(lines.map((line) => [line.level, line.source])).toEqual([
      [30, 'console.log'],
      [30, 'console.info'],
      [40, 'console.warn'],
      [50, 'console.error'],
      [20, 'console.debug'],
    ])
    expect(lines.slice(0, 3).map((line) => line.msg)).toEqual(['hello world', 'n=42', 'careful { depth: 1 }'])
    expect(lines[3]?.msg).toMatch(/^Error: broken\n {4}at /)
    nothingRaw()
  })

  it('catches console.warn taken before it ran (as @smithy/core does at require time) and the other console methods', () => {
    const early = console.warn
    const { lines, log } = capture()
    undo = routeWarningsToLog(log)
    early('@smithy/core: a warning from a reference kept at load time')
    console.trace('where')
    console.dir({ a: 1 })
    expect(lines.map((line) => [line.level, line.source])).toEqual([
      [40, 'console.stderr'],
      [50, 'console.error'],
      [30, 'console.stdout'],
    ])
    expect(lines[0]?.msg).toBe('@smithy/core: a warning from a reference kept at load time')
    expect(lines[1]?.msg).toMatch(/^Trace: where\n/)
    expect(lines[2]?.msg).toBe('{ a: 1 }')
    nothingRaw()
  })

  it('does not loop when the logger itself writes to the console: that one message goes to stderr once', () => {
    let writes = 0
    const log = pino({ level: 'info' }, {
      write: () => {
        writes++
        console.log('from inside the logger')
      },
    })
    undo = routeWarningsToLog(log)
    stderr.mockImplementation(() => true)
    console.warn('outer')
    expect(writes).toBe(1)
    expect(stderr).toHaveBeenCalledTimes(1)
    expect(stderr).toHaveBeenCalledWith('from inside the logger\n')
    expect(stdout).not.toHaveBeenCalled()
  })

  it('undoes itself: the console, its streams and Node\'s warning printer come back', () => {
    const methods = [console.log, console.info, console.debug, console.warn, console.error]
    const printers = process.listeners('warning')
    const streams = console as unknown as { _stdout: unknown; _stderr: unknown }
    const before = [streams._stdout, streams._stderr]
    routeWarningsToLog(capture().log)()
    expect([console.log, console.info, console.debug, console.warn, console.error]).toEqual(methods)
    expect(process.listeners('warning')).toEqual(printers)
    expect([streams._stdout, streams._stderr]).toEqual(before)
  })
})
