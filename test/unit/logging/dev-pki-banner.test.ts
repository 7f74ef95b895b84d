// The development PKI warning through the real logger: one JSON line with fields, or a short readable block when pretty.
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../../src/logger'
import type { LoggerOptions } from '../../../src/logger'
import { ensureDevPki } from '../../../src/pki/dev-pki'

let root: string
beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'cups-dev-pki-banner-'))
})
afterAll(async () => {
  await rm(root, { recursive: true, force: true })
})

async function bannerWrites(name: string, options: LoggerOptions): Promise<string[]> {
  const writes: string[] = []
  const log = createLogger('info', { write: (line: string) => writes.push(line) }, options)
  await ensureDevPki(path.join(root, name), { log, port: 8443, displayPath: './certs' })
  return writes
}

describe('the development PKI warning', () => {
  it('is one JSON line with a short message and structured fields', async () => {
    const writes = await bannerWrites('json', { format: 'json' })
    expect(writes).toHaveLength(2)
    const warning = JSON.parse(writes[1] ?? '') as Record<string, unknown>
    expect(warning).toMatchObject({
      level: 40,
      devPki: true,
      certPath: './certs',
      stationCupsUri: expect.stringMatching(/^https:\/\/localhost:8443 /) as unknown,
      msg: 'DEVELOPMENT PKI generated in ./certs: NOT FOR PRODUCTION (anyone holding its ca.key can mint credentials this server accepts)',
    })
    expect(writes[1]?.split('\n')).toHaveLength(2)
  })

  it('reads as a few lines when pretty: the message first, then one line per field', async () => {
    const writes = await bannerWrites('pretty', { format: 'pretty', colorize: false })
    expect(writes).toHaveLength(2)
    expect(writes[0]).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: no certificates in .*; generating a development PKI\n$/)
    const lines = (writes[1] ?? '').trimEnd().split('\n')
    expect(lines[0]).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: DEVELOPMENT PKI generated in \.\/certs: NOT FOR PRODUCTION \(/)
    expect(lines.slice(1).map((line) => /^ {4}(\w+): /.exec(line)?.[1])).toEqual([
      'devPki',
      'certPath',
      'files',
      'serverNames',
      'forProduction',
      'stationCupsTrust',
      'stationCupsUri',
    ])
    expect(lines).toContain('    stationCupsTrust: "openssl x509 -in certs/ca.crt -outform DER -out cups.trust (PEM works too: cp certs/ca.crt cups.trust)"')
  })
})
