// InventoryRecorder: writes inventory entries after the answer, only on change, with conditional writes; never changes an answer.
import { PreconditionFailedError } from '../errors'
import type { Logger } from '../logger'
import type { Metrics } from '../observability/metrics'
import type { BlobStore, StoredBlob } from '../storage/blob-store'
import { deliveredEntry, nextEntry, parseInventoryEntry, refusedEntry } from './inventory'
import type { FirmwareDelivery, InventoryEntry, InventoryRules, NextEntry, Observation } from './inventory'

type InventoryStore = BlobStore & { getFresh?(key: string): Promise<StoredBlob | undefined> }

export interface InventoryRecorderOptions {
  readonly store: InventoryStore
  readonly keyFor: (eui: string) => string
  readonly rules: InventoryRules
  readonly log: Pick<Logger, 'warn' | 'error'>
  readonly metrics: Metrics
  /** A gateway the firmware loop guard marked failed (written once, by the replica whose write landed). */
  readonly onFirmwareFailed?: ((firmware: string, eui: string) => Promise<void>) | undefined
}

/**
 * Updates run after the answer went out, one at a time per gateway (a Map of promise chains, so two requests of
 * one gateway never race each other here), and other replicas are settled by If-Match / If-None-Match: a lost
 * race re-reads past the cache and computes again once. A failure is logged and counted, nothing more.
 */
/** Least time between two refusal writes for one gateway (in this process). */
const REFUSAL_WRITE_MS = 10 * 60_000

export class InventoryRecorder {
  private readonly chains = new Map<string, Promise<void>>()
  private readonly refusalsWritten = new Map<string, number>()

  constructor(private readonly options: InventoryRecorderOptions) {}

  /**
   * The stored entry through the read cache, for the loop guard; undefined when absent, unreadable or slower
   * than `withinMs` (the guard is then skipped for this answer rather than delaying it).
   */
  async entry(eui: string, withinMs = 500): Promise<InventoryEntry | undefined> {
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => {
        resolve(undefined)
      }, withinMs)
    })
    try {
      const read = this.options.store.get(this.options.keyFor(eui)).then((stored) => (stored === undefined ? undefined : parseInventoryEntry(stored.body)))
      read.catch(() => undefined)
      return await Promise.race([read, late])
    } catch {
      return undefined
    } finally {
      clearTimeout(timer)
    }
  }

  /**
   * The entry read past the cache, for the firmware loop guard (replicas count deliveries into the same entry):
   * `{ entry }`, or undefined when it could not be read within `withinMs` (the caller then sends no update).
   */
  async freshEntry(eui: string, withinMs = 500): Promise<{ entry: InventoryEntry | undefined } | undefined> {
    const { store, keyFor } = this.options
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => {
        resolve(undefined)
      }, withinMs)
    })
    const key = keyFor(eui)
    const read = (store.getFresh ? store.getFresh(key) : store.get(key)).then((stored) => ({ entry: stored === undefined ? undefined : parseInventoryEntry(stored.body) }))
    read.catch(() => undefined)
    try {
      return await Promise.race([read, late])
    } catch {
      return undefined
    } finally {
      clearTimeout(timer)
    }
  }

  /** A firmware download that completed (queued behind this gateway's other updates, like observe). */
  delivered(eui: string, delivery: FirmwareDelivery): void {
    this.enqueue(eui, (previous) => deliveredEntry(previous, delivery))
  }

  /** What an answered request showed (after the answer). */
  observe(eui: string, observation: Observation): void {
    this.enqueue(eui, (previous) => nextEntry(previous, observation, this.options.rules))
  }

  /**
   * A refusal. A gateway with an entry gets it updated; one without gets a first entry only if `registered`
   * says it is registered (a read through the cache), so refusing unknown EUIs never writes.
   */
  refused(eui: string, refusal: { now: Date; status: number; reason: string }, registered: () => Promise<boolean>): void {
    // Refusals are what a stranger can cause at will: at most one write per gateway per REFUSAL_WRITE_MS.
    const last = this.refusalsWritten.get(eui)
    if (last !== undefined && refusal.now.getTime() - last < REFUSAL_WRITE_MS) return
    if (this.refusalsWritten.size >= 10_000) this.refusalsWritten.clear()
    this.refusalsWritten.set(eui, refusal.now.getTime())
    let known: boolean | undefined
    this.enqueue(eui, async (previous) => {
      if (previous === undefined) known ??= await registered().catch(() => false)
      return refusedEntry(previous, refusal, this.options.rules, known === true)
    })
  }

  /** Settles when every update queued so far has finished (tests, graceful shutdown). */
  async drain(): Promise<void> {
    while (this.chains.size > 0) await Promise.all([...this.chains.values()])
  }

  private enqueue(eui: string, compute: (previous: InventoryEntry | undefined) => NextEntry | undefined | Promise<NextEntry | undefined>): void {
    const chain = (this.chains.get(eui) ?? Promise.resolve()).then(() => this.update(eui, compute))
    this.chains.set(eui, chain)
    void chain.then(() => {
      if (this.chains.get(eui) === chain) this.chains.delete(eui)
    })
  }

  private async update(
    eui: string,
    compute: (previous: InventoryEntry | undefined) => NextEntry | undefined | Promise<NextEntry | undefined>,
  ): Promise<void> {
    const { store, keyFor, log, metrics } = this.options
    try {
      const key = keyFor(eui)
      for (let attempt = 0; attempt < 2; attempt++) {
        const stored = attempt > 0 && store.getFresh ? await store.getFresh(key) : await store.get(key)
        const next = await compute(stored === undefined ? undefined : parseInventoryEntry(stored.body))
        if (!next?.write) return
        try {
          await store.put(key, Buffer.from(`${JSON.stringify(next.entry)}\n`), stored === undefined ? { ifNoneMatch: '*' } : { ifMatch: stored.etag })
        } catch (err) {
          if (err instanceof PreconditionFailedError) continue // another replica wrote: compute again from its entry
          throw err
        }
        for (const firmware of next.newlyFailed ?? []) {
          await this.options.onFirmwareFailed?.(firmware, eui).catch((err: unknown) => {
            log.error({ eui, firmware, error: (err as Error).message }, 'firmware failure not counted on its rollout')
          })
        }
        for (const segment of next.newlyStuck) {
          metrics.increment('stuck_segments_total', { segment })
          const watched = next.entry.segments?.[segment]
          log.warn(
            { eui, segment, crc: watched?.crc, sends: watched?.sends, until: watched?.stuckUntil },
            'segment stuck: sent repeatedly, the station keeps reporting the same; not sent again until the back-off ends',
          )
        }
        return
      }
      throw new Error('lost the write race twice')
    } catch (err) {
      metrics.increment('inventory_write_failures_total')
      log.error({ eui, error: (err as Error).message }, 'inventory not updated (the answer was not affected)')
    }
  }
}
