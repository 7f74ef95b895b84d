// `cups-server gateway revoke` on the filesystem store, in process and through the entry point an operator runs.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EXIT, runCli } from '../../../src/cli/run-cli'
import { storageKeys } from '../../../src/storage/storage-keys'
import { runCliBinary } from '../../support/cli-binary'


async function cli(argv: string[], env: Record<string, string>): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  const status = await runCli(argv, { env, stdout: { write: (text: string) => (stdout += text) }, stderr: { write: (text: string) => (stderr += text) } })
  return { status, stdout, stderr }
}

describe('cups-server gateway revoke', () => {
  let dir: string
  let env: Record<string, string>
  const eui = '0016c001ff10a235'
  const keys = storageKeys('cups/', eui)
  const file = (key: string): string => path.join(dir, 'data', key)

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'cups-cli-'))
    env = { DATA_DIR: path.join(dir, 'data'), CERT_PATH: path.join(dir, 'certs') }
  })
  afterAll(() => rm(dir, { recursive: true, force: true }))

  it('revokes a provisioned gateway named in any EUI form: record revoked, credentials gone', async () => {
    await mkdir(path.dirname(file(keys.settings)), { recursive: true })
    await writeFile(file(keys.settings), '{"name":"roof"}\n')
    await writeFile(file(keys.cupsCredentials), 'cups bundle')
    await writeFile(file(keys.tcCredentials), 'tc bundle')
    const result = await cli(['gateway', 'revoke', '16:c001:ff10:a235', '--reason', 'stolen', '--json'], env)
    expect(result.status).toBe(EXIT.ok)
    expect(JSON.parse(result.stdout)).toMatchObject({ eui, state: 'revoked', deleted: [keys.cupsCredentials, keys.tcCredentials] })
    expect(JSON.parse(await readFile(file(keys.settings), 'utf8'))).toMatchObject({ name: 'roof', state: 'revoked', revokedReason: 'stolen' })
    // The audit line goes to stderr as JSON, like the server's.
    expect(JSON.parse(result.stderr)).toMatchObject({ audit: 'gateway-revoked', eui, reason: 'stolen' })
    await expect(readFile(file(keys.cupsCredentials))).rejects.toThrow(/ENOENT/)
  })

  it('says what it did in plain words, and nothing to delete is not an error', async () => {
    const result = await cli(['gateway', 'revoke', '00-16-c0-01-ff-10-a2-36'], env)
    expect(result).toMatchObject({ status: EXIT.ok, stdout: 'revoked 0016c001ff10a236: no credentials were stored\n' })
  })

  it('refuses a bad EUI (1) and a missing argument (2), naming the problem', async () => {
    const bad = await cli(['gateway', 'revoke', 'not-an-eui'], env)
    expect(bad.status).toBe(EXIT.failed)
    expect(bad.stderr).toMatch(/"not-an-eui" is not a gateway EUI/)
    const missing = await cli(['gateway', 'revoke'], env)
    expect(missing.status).toBe(EXIT.usage)
    expect(missing.stderr).toMatch(/missing required argument 'eui'/)
  })

  it('a configuration problem is a usage error naming the variable', async () => {
    const result = await cli(['gateway', 'revoke', eui], { ...env, STORAGE_PREFIX: '../up' })
    expect(result.status).toBe(EXIT.usage)
    expect(result.stderr).toMatch(/STORAGE_PREFIX/)
  })

  it('runs as an operator runs it (the built cups-server), exit status included', async () => {
    const ok = await runCliBinary(['gateway', 'revoke', '::3', '--json'], { env })
    expect(ok.status).toBe(0)
    expect(JSON.parse(ok.stdout)).toMatchObject({ eui: '0000000000000003', state: 'revoked' })
    expect((await runCliBinary(['gateway', 'revoke'], { env })).status).toBe(2)
  })

})
