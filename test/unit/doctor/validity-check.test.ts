// validityCheck on a real certificate (the development CA): the dates, the 30-day warning and the wording of each outcome.
import { X509Certificate } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { validityCheck } from '../../../src/doctor/validity-check'
import { parseCertificateTime } from '../../../src/pki/certificate-expiry'
import { createTestPki } from '../../support/test-pki'
import type { TestPki } from '../../support/test-pki'

const DAY_MS = 86_400_000
let pki: TestPki
let server: X509Certificate
let file: string
let notBefore: Date
let notAfter: Date

beforeAll(async () => {
  pki = await createTestPki()
  file = path.join(pki.dir, 'cups.crt')
  server = new X509Certificate(await readFile(file))
  notBefore = parseCertificateTime(server.validFrom)
  notAfter = parseCertificateTime(server.validTo)
})
afterAll(() => pki.remove())

const check = (now: Date) => validityCheck('server certificate', server, file, now, 'stations refuse to connect')
const day = (date: Date): string => date.toISOString().slice(0, 10)

describe('validityCheck', () => {
  it('ok with the expiry date while more than 30 days remain', () => {
    expect(check(new Date(notAfter.getTime() - 31 * DAY_MS))).toEqual({
      check: 'server certificate',
      status: 'ok',
      detail: `valid until ${day(notAfter)} (${file})`,
    })
  })

  it('warns within 30 days, counting the days left', () => {
    expect(check(new Date(notAfter.getTime() - 12 * DAY_MS + 60_000))).toMatchObject({
      status: 'warn',
      detail: `expires ${day(notAfter)}, in 12 days (${file}): renew it before then, or stations refuse to connect`,
    })
    expect(check(new Date(notAfter.getTime() - 1000)).detail).toMatch(/in 1 day \(/)
  })

  it('FAILs once expired, and before notBefore', () => {
    expect(check(new Date(notAfter.getTime() + 1000))).toEqual({
      check: 'server certificate',
      status: 'fail',
      detail: `expired ${day(notAfter)} (${file}): stations refuse to connect`,
    })
    expect(check(new Date(notBefore.getTime() - 1000))).toMatchObject({ status: 'fail', detail: expect.stringMatching(new RegExp(`^not valid before ${day(notBefore)} `)) as unknown })
  })

  it('judges the exact notAfter second as still valid, like preflightTrust', () => {
    expect(check(notAfter).status).toBe('warn')
  })
})
