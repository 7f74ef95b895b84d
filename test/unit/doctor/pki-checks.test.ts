// checkPki, checkCertificates and checkStartFiles on real files: what start refuses, line by line, and what is only dated.
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../../../src/config'
import { checkCertificates } from '../../../src/doctor/certificate-checks'
import { checkPki } from '../../../src/doctor/pki-checks'
import { checkStartFiles } from '../../../src/doctor/start-file-checks'
import { ensureDevPki } from '../../../src/pki/dev-pki'
import { newAuthority } from '../../support/test-certificates'
import type { Authority } from '../../support/test-certificates'

let dir: string
let certs: string
let lns: Authority

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'cups-doctor-pki-'))
  certs = path.join(dir, 'certs')
  await ensureDevPki(certs, { log: () => undefined })
  lns = await newAuthority(path.join(dir, 'lns'), 'LNS Gateway CA')
})
afterAll(() => rm(dir, { recursive: true, force: true }))

const config = (env: Record<string, string> = {}) => loadConfig({ CERT_PATH: certs, DATA_DIR: path.join(dir, 'data'), ...env }, dir)

describe('checkPki', () => {
  it('an incomplete CERT_PATH fails as ensureDevPki would, and the files that are there are still checked', async () => {
    const partial = path.join(dir, 'partial')
    await mkdir(partial)
    for (const file of ['ca.crt', 'ca.key']) await copyFile(path.join(certs, file), path.join(partial, file))
    const checks = await checkPki(config({ CERT_PATH: partial }), new Date())
    expect(checks[0]).toEqual({
      check: 'cert path',
      status: 'fail',
      detail: expect.stringMatching(new RegExp(`^CERT_PATH ${partial} is incomplete: found ca\\.crt, ca\\.key; missing cups\\.crt, cups\\.key\\. The server refuses to start`)) as unknown,
    })
    expect(checks).toContainEqual({ check: 'pki files', status: 'ok', detail: expect.stringMatching(/^gateway CA "CN=CUPS Development CA/) as unknown })
    // readTlsMaterial reads its files at once: whichever is missing first is named.
    expect(checks).toContainEqual({ check: 'tls files', status: 'fail', detail: expect.stringMatching(new RegExp(`^CERT_PATH: ${partial}/cups\\.(crt|key): cannot be read \\(ENOENT\\)$`)) as unknown })
  })

  it('names the variable behind a trust that does not read, like start', async () => {
    const checks = await checkPki(config({ CUPS_TRUST_PATH: './missing.pem' }), new Date())
    expect(checks).toContainEqual({ check: 'pki files', status: 'fail', detail: `CUPS_TRUST_PATH: ${path.join(dir, 'missing.pem')}: cannot be read (ENOENT)` })
  })

  it('without CUPS_URI the host cannot be checked: a warning', async () => {
    expect(await checkPki(config(), new Date())).toContainEqual(expect.objectContaining({ check: 'cups uri host', status: 'warn' }))
  })
})

describe('checkCertificates', () => {
  it('dates each distinct certificate once: a TC trust of its own gets its own line (30 days left: a warning)', () => {
    const { checks, ca } = checkCertificates(config({ TC_TRUST_PATH: lns.cert }), new Date())
    expect(ca?.subject).toBe('CN=CUPS Development CA (NOT FOR PRODUCTION)')
    expect(checks.map((check) => `${check.status} ${check.check}`)).toEqual(['ok ca certificate', 'warn tc trust', 'ok server certificate', 'warn development pki'])
  })

  it('another CA is not the development PKI', () => {
    const { checks } = checkCertificates(config({ CERT_PATH: path.dirname(lns.cert) }), new Date())
    expect(checks).toContainEqual({ check: 'development pki', status: 'ok', detail: 'the gateway CA "CN=LNS Gateway CA" is not the generated development CA' })
  })
})

describe('checkStartFiles', () => {
  it('nothing configured, nothing to say', async () => {
    expect(await checkStartFiles(config(), new Date())).toEqual([])
  })

  it('an LNS CA of its own: ok, with its dates (30 days left: a warning)', async () => {
    const checks = await checkStartFiles(config({ LNS_CA_CERT_PATH: lns.cert, LNS_CA_KEY_PATH: lns.key }), new Date())
    expect(checks.map((check) => `${check.status} ${check.check}`)).toEqual(['ok lns ca', 'warn lns ca certificate'])
  })

  it('an LNS CA that is also our gateway CA fails as start does', async () => {
    const env = { LNS_CA_CERT_PATH: path.join(certs, 'ca.crt'), LNS_CA_KEY_PATH: path.join(certs, 'ca.key') }
    expect(await checkStartFiles(config(env), new Date())).toContainEqual({
      check: 'lns ca',
      status: 'fail',
      detail: `LNS_CA_CERT_PATH: ${path.join(certs, 'ca.crt')}: is also a CA whose client certificates this server accepts (CERT_PATH/ca.crt, ca-previous.crt or BOOTSTRAP_CA_PATH); use a separate CA`,
    })
  })

  it('an LNS CA key that does not match, and an allowlist file that does not read, name their variables', async () => {
    const other = await newAuthority(path.join(dir, 'other'), 'Another CA')
    const checks = await checkStartFiles(config({ LNS_CA_CERT_PATH: lns.cert, LNS_CA_KEY_PATH: other.key, BOOTSTRAP_ALLOWLIST: './allow.txt' }), new Date())
    expect(checks).toEqual([
      { check: 'bootstrap allowlist', status: 'fail', detail: `BOOTSTRAP_ALLOWLIST: ${path.join(dir, 'allow.txt')}: cannot be read (ENOENT)` },
      { check: 'lns ca', status: 'fail', detail: `LNS_CA_KEY_PATH: ${other.key}: does not match ${lns.cert}; replace both together` },
    ])
  })
})
