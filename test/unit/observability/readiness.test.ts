// Readiness: ready only when every check holds and no shutdown began; a hanging check fails by the timeout; reports are shared.
import { describe, expect, it } from 'vitest'
import { Readiness } from '../../../src/observability/readiness'

describe('Readiness', () => {
  it('is ready when every check resolves with nothing, and names the one that does not', async () => {
    const state: { storage?: string } = {}
    const readiness = new Readiness({ storage: () => state.storage, pki: () => undefined }, { timeoutMs: 100, reuseMs: 0 })
    expect(await readiness.report()).toEqual({ ready: true, checks: { storage: 'ok', pki: 'ok', shutdown: 'ok' } })
    state.storage = 'down'
    expect(await readiness.report()).toEqual({ ready: false, checks: { storage: 'down', pki: 'ok', shutdown: 'ok' } })
  })

  it('counts a throw or a check that never answers as not ready', async () => {
    const readiness = new Readiness(
      {
        storage: () => Promise.reject(new Error('s3 storage: get failed: ECONNREFUSED')),
        pki: () => new Promise<undefined>(() => undefined),
      },
      { timeoutMs: 50 },
    )
    const started = Date.now()
    const report = await readiness.report()
    expect(Date.now() - started).toBeLessThan(1000)
    expect(report.ready).toBe(false)
    expect(report.checks).toEqual({ storage: 's3 storage: get failed: ECONNREFUSED', pki: 'no answer within 50 ms', shutdown: 'ok' })
  })

  it('is unready from the moment shutdown begins, whatever the checks say', async () => {
    const readiness = new Readiness({ storage: () => undefined }, { timeoutMs: 100 })
    expect((await readiness.report()).ready).toBe(true)
    readiness.shutDown()
    expect(await readiness.report()).toEqual({ ready: false, checks: { storage: 'ok', shutdown: 'shutting down' } })
  })

  it('runs one round of checks for concurrent callers, and reuses a report younger than reuseMs', async () => {
    let runs = 0
    let now = 0
    const readiness = new Readiness(
      {
        storage: async () => {
          runs++
          await new Promise((resolve) => setTimeout(resolve, 10))
          return undefined
        },
      },
      { timeoutMs: 100, reuseMs: 1000, now: () => now },
    )
    await Promise.all([readiness.report(), readiness.report(), readiness.report()])
    expect(runs).toBe(1)
    now = 999
    await readiness.report()
    expect(runs).toBe(1)
    now = 1000
    await readiness.report()
    expect(runs).toBe(2)
  })
})
