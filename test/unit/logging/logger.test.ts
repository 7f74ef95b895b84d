// createLogger: JSON by default; pretty lines through the same destination, one write per line, secrets redacted in both.
import { describe, expect, it } from 'vitest'
import { createLogger } from '../../../src/logger'

const collect = (): { writes: string[]; destination: { write(line: string): void } } => {
  const writes: string[] = []
  return { writes, destination: { write: (line: string) => writes.push(line) } }
}

const REQUEST = {
  reqId: 'q3Xz9KpL-1',
  eui: '0016c001ff10a235',
  outcome: 'updated',
  status: 200,
  latencyMs: 3.2,
  proof: 'token',
  sent: ['cupsCred 1a2b3c4d/512'],
}

describe('createLogger, JSON (the default)', () => {
  it('writes one JSON object per line, unchanged by the format option, with a nested token censored', () => {
    for (const options of [undefined, { format: 'json' as const }]) {
      const { writes, destination } = collect()
      createLogger('info', destination, options).info({ ...REQUEST, gateway: { token: 's3cret' } }, 'update-info')
      expect(writes).toHaveLength(1)
      expect(writes[0]?.endsWith('}\n')).toBe(true)
      const line = JSON.parse(writes[0] ?? '') as Record<string, unknown>
      expect(line).toMatchObject({ level: 30, ...REQUEST, gateway: { token: '[redacted]' }, msg: 'update-info' })
      expect(line).toHaveProperty('pid')
      expect(writes[0]).not.toContain('s3cret')
    }
  })

  it('censors a secret field at the top level of a line too, not only one level down', () => {
    const { writes, destination } = collect()
    createLogger('info', destination).info({ token: 's3cret', privateKey: 'PRIVATE', blob: 'AAAA', eui: 'x' }, 'm')
    const line = JSON.parse(writes[0] ?? '') as Record<string, unknown>
    expect(line).toMatchObject({ token: '[redacted]', privateKey: '[redacted]', blob: '[redacted]', eui: 'x' })
  })
})

describe('createLogger, pretty', () => {
  const pretty = (level = 'info') => {
    const { writes, destination } = collect()
    return { writes, log: createLogger(level, destination, { format: 'pretty', colorize: false }) }
  }

  it('puts an info line on one line: time, level, message, then eui, status and latency, then the rest', () => {
    const { writes, log } = pretty()
    log.info(REQUEST, 'update-info')
    expect(writes).toHaveLength(1)
    const line = writes[0] ?? ''
    expect(line).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: update-info eui=0016c001ff10a235 status=200 latencyMs=3\.2 \{/)
    expect(line.endsWith('\n')).toBe(true)
    expect(line.split('\n')).toHaveLength(2)
    expect(line).toContain('"reqId":"q3Xz9KpL-1"')
    expect(line).toContain('"sent":["cupsCred 1a2b3c4d/512"]')
    expect(line).not.toMatch(/pid|hostname|"eui"|"status"/)
  })

  it('censors redacted paths in pretty output too (pino redacts before it serialises)', () => {
    const { writes, log } = pretty()
    log.info({ gateway: { token: 's3cret', key: '-----BEGIN EC PRIVATE KEY-----' }, req: { headers: { authorization: 'Bearer s3cret' } } }, 'x')
    expect(writes[0]).toContain('"token":"[redacted]"')
    expect(writes[0]).toContain('"key":"[redacted]"')
    expect(writes[0]).toContain('"authorization":"[redacted]"')
    expect(writes[0]).not.toMatch(/s3cret|PRIVATE KEY/)
  })

  it('puts each field of a warning on a line of its own under the message, still one write', () => {
    const { writes, log } = pretty()
    log.warn({ devPki: true, certPath: './certs' }, 'DEVELOPMENT PKI generated in ./certs: NOT FOR PRODUCTION')
    expect(writes).toHaveLength(1)
    expect(writes[0]?.split('\n')).toEqual([
      expect.stringMatching(/^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: DEVELOPMENT PKI generated in \.\/certs: NOT FOR PRODUCTION$/),
      '    devPki: true',
      '    certPath: "./certs"',
      '',
    ])
  })

  it('prints an error stack readably', () => {
    const { writes, log } = pretty()
    log.error({ err: new Error('boom') }, 'could not start')
    expect(writes[0]).toMatch(/ERROR: could not start\n {4}err: \{/)
    expect(writes[0]).toMatch(/\n {10}Error: boom\n {14}at /)
  })

  it('keeps the level filter, strips terminal control characters from the message, and colours only when asked', () => {
    const { writes, log } = pretty('warn')
    log.info('not shown')
    log.warn({ eui: 'x\u001b[2Jy' }, 'station said \u001b]0;pwned\u0007')
    expect(writes).toHaveLength(1)
    expect(writes[0]).not.toContain('\u001b')
    expect(writes[0]).toContain('WARN: station said ]0;pwned eui=x[2Jy')

    const coloured = collect()
    createLogger('info', coloured.destination, { format: 'pretty', colorize: true }).info('hello')
    expect(coloured.writes[0]).toContain('\u001b[32mINFO\u001b[39m')
  })
})
