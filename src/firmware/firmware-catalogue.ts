// FirmwareCatalogue: the firmware part of the storage contract (cups/firmware/<id>/...): publish, sign, rollouts.
import { PreconditionFailedError } from '../errors'
import type { BlobStore, StoredBlob } from '../storage/blob-store'
import { normalisePrefix } from '../storage/storage-keys'
import type { FirmwareManifest, FirmwareSignature, Rollout } from './firmware-manifest'
import { FIRMWARE_ID, firmwareIdOf, parseManifest, parseRollout, serialise, sha256Of } from './firmware-manifest'
import { keyCrcOf, SignatureCheck } from './signing-keys'

/** Where one firmware lives: the update (immutable), its manifest (immutable but for added signatures), its rollout. */
export interface FirmwareKeys {
  readonly update: string
  readonly manifest: string
  readonly rollout: string
}

export function firmwareKeys(prefix: string, id: string): FirmwareKeys {
  if (!FIRMWARE_ID.test(id)) throw new FirmwareError(`firmware id ${JSON.stringify(id)} is not [A-Za-z0-9._-]{1,80}`)
  const base = `${firmwareFolder(prefix)}${id}/`
  return { update: `${base}update.bin`, manifest: `${base}manifest.json`, rollout: `${base}rollout.json` }
}

export function firmwareFolder(prefix: string): string {
  return `${normalisePrefix(prefix)}firmware/`
}

export class FirmwareError extends Error {
  readonly code = 'FIRMWARE'
}

export interface PublishInput {
  readonly update: Buffer
  readonly version: string
  readonly from: readonly string[]
  readonly models?: readonly string[] | undefined
  readonly stations?: readonly string[] | undefined
  readonly description?: string | undefined
  readonly signatures: readonly Omit<FirmwareSignature, 'keyCrc'>[]
  readonly now: Date
}

export class FirmwareCatalogue {
  constructor(
    private readonly store: BlobStore,
    private readonly prefix: string,
  ) {}

  /**
   * Stores the update, then its manifest, each created only if absent. Publishing the same file and version again
   * finds the same id and only adds signatures it lacks. Signatures are checked against the update first.
   */
  async publish(input: PublishInput): Promise<{ manifest: FirmwareManifest; created: boolean }> {
    const sha256 = sha256Of(input.update)
    const id = firmwareIdOf(input.version, sha256)
    const keys = firmwareKeys(this.prefix, id)
    const signatures = checkedSignatures(input.update, input.signatures)
    const manifest: FirmwareManifest = parseManifest(
      serialise({
        format: 1,
        id,
        version: input.version,
        from: [...input.from],
        ...(input.models === undefined || input.models.length === 0 ? {} : { models: [...input.models] }),
        ...(input.stations === undefined || input.stations.length === 0 ? {} : { stations: [...input.stations] }),
        size: input.update.length,
        sha256,
        signatures,
        publishedAt: input.now.toISOString(),
        ...(input.description === undefined ? {} : { description: input.description }),
      }),
    )
    const existing = await this.manifest(id)
    if (existing !== undefined) {
      if (existing.manifest.sha256 !== sha256 || existing.manifest.version !== input.version) {
        throw new FirmwareError(`firmware ${id} exists with other content; published entries never change`)
      }
      return { manifest: await this.addSignatures(id, signatures, existing), created: false }
    }
    try {
      await this.store.put(keys.update, input.update, { ifNoneMatch: '*' })
    } catch (err) {
      if (!(err instanceof PreconditionFailedError)) throw err
      // A publish that stopped between the two writes: the file with this id must be this very file.
      if ((await this.updateSha256(id)) !== sha256) throw new FirmwareError(`firmware ${id}: a different update.bin is already stored`)
    }
    try {
      await this.store.put(keys.manifest, serialise(manifest), { ifNoneMatch: '*' })
      return { manifest, created: true }
    } catch (err) {
      if (!(err instanceof PreconditionFailedError)) throw err
      return this.publish(input)
    }
  }

  /** Adds signatures the manifest lacks (If-Match on the manifest); an existing signature is never replaced. */
  async sign(id: string, signatures: readonly Omit<FirmwareSignature, 'keyCrc'>[]): Promise<FirmwareManifest> {
    const existing = await this.manifest(id)
    if (existing === undefined) throw new FirmwareError(`firmware ${id} is not in the catalogue`)
    const update = await this.readUpdate(id, existing.manifest)
    return this.addSignatures(id, checkedSignatures(update, signatures), existing)
  }

  async manifest(id: string): Promise<{ manifest: FirmwareManifest; etag: string } | undefined> {
    const stored = await this.store.get(firmwareKeys(this.prefix, id).manifest)
    return stored === undefined ? undefined : { manifest: parseManifest(stored.body), etag: stored.etag }
  }

  /** Every firmware id in storage, sorted. */
  async ids(): Promise<string[]> {
    const folder = firmwareFolder(this.prefix)
    const ids = new Set<string>()
    for (const key of await this.store.list(folder)) {
      const [id, name] = key.slice(folder.length).split('/')
      if (id !== undefined && name === 'manifest.json' && FIRMWARE_ID.test(id)) ids.add(id)
    }
    return [...ids].sort()
  }

  async rollout(id: string): Promise<{ rollout: Rollout; etag: string } | undefined> {
    const stored = await this.store.get(firmwareKeys(this.prefix, id).rollout)
    return stored === undefined ? undefined : { rollout: parseRollout(stored.body), etag: stored.etag }
  }

  /**
   * Writes the rollout `change` makes of the stored one (undefined when there is none), with If-Match /
   * If-None-Match: concurrent changes (two operators, a replica halting it) are computed again, never lost.
   */
  async changeRollout(id: string, change: (current: Rollout | undefined) => Rollout | undefined): Promise<Rollout | undefined> {
    if ((await this.manifest(id)) === undefined) throw new FirmwareError(`firmware ${id} is not in the catalogue`)
    const key = firmwareKeys(this.prefix, id).rollout
    for (let attempt = 0; attempt < 5; attempt++) {
      const stored: StoredBlob | undefined = await this.fresh(key)
      const current = stored === undefined ? undefined : parseRollout(stored.body)
      const next = change(current)
      if (next === undefined) return current
      // What is stored must parse again: a bad change fails here, not at every later read of the catalogue.
      const body = serialise(parseRollout(serialise(next)))
      try {
        await this.store.put(key, body, stored === undefined ? { ifNoneMatch: '*' } : { ifMatch: stored.etag })
        return next
      } catch (err) {
        if (!(err instanceof PreconditionFailedError)) throw err
      }
    }
    throw new FirmwareError(`rollout of ${id} kept changing under this write; try again`)
  }

  /** The stored update, checked against its manifest (size and sha256). */
  async readUpdate(id: string, manifest: FirmwareManifest): Promise<Buffer> {
    const openRead = this.store.openRead?.bind(this.store)
    if (openRead === undefined) throw new FirmwareError('this storage cannot stream large objects')
    const opened = await openRead(firmwareKeys(this.prefix, id).update)
    if (opened === undefined) throw new FirmwareError(`firmware ${id}: update.bin is missing`)
    const chunks: Buffer[] = []
    for await (const chunk of opened.stream) chunks.push(chunk as Buffer)
    const update = Buffer.concat(chunks)
    if (update.length !== manifest.size || sha256Of(update) !== manifest.sha256) {
      throw new FirmwareError(`firmware ${id}: the stored update.bin does not match its manifest (size or sha256)`)
    }
    return update
  }

  private async updateSha256(id: string): Promise<string | undefined> {
    const opened = await this.store.openRead?.(firmwareKeys(this.prefix, id).update)
    if (opened === undefined) return undefined
    const chunks: Buffer[] = []
    for await (const chunk of opened.stream) chunks.push(chunk as Buffer)
    return sha256Of(Buffer.concat(chunks))
  }

  private async addSignatures(
    id: string,
    signatures: readonly FirmwareSignature[],
    existing: { manifest: FirmwareManifest; etag: string },
  ): Promise<FirmwareManifest> {
    let current = existing
    for (let attempt = 0; attempt < 5; attempt++) {
      const known = new Set(current.manifest.signatures.map((signature) => signature.keyCrc))
      const added = signatures.filter((signature) => !known.has(signature.keyCrc))
      if (added.length === 0) return current.manifest
      const next: FirmwareManifest = { ...current.manifest, signatures: [...current.manifest.signatures, ...added] }
      try {
        await this.store.put(firmwareKeys(this.prefix, id).manifest, serialise(next), { ifMatch: current.etag })
        return next
      } catch (err) {
        if (!(err instanceof PreconditionFailedError)) throw err
        const again = await this.manifest(id)
        if (again === undefined) throw new FirmwareError(`firmware ${id} disappeared while being signed`)
        current = again
      }
    }
    throw new FirmwareError(`firmware ${id}: the manifest kept changing under this write; try again`)
  }

  private fresh(key: string): Promise<StoredBlob | undefined> {
    const store = this.store as BlobStore & { getFresh?(key: string): Promise<StoredBlob | undefined> }
    return store.getFresh?.(key) ?? store.get(key)
  }
}

/** Each signature verified against the update with its station key, the way the station checks it; one per key. */
function checkedSignatures(update: Buffer, signatures: readonly Omit<FirmwareSignature, 'keyCrc'>[]): FirmwareSignature[] {
  const check = new SignatureCheck(signatures.map((entry) => ({ stationKey: Buffer.from(entry.stationKey, 'base64'), der: Buffer.from(entry.signature, 'base64') })))
  check.update(update)
  const results = check.results()
  const byKey = new Map<number, FirmwareSignature>()
  signatures.forEach((entry, index) => {
    if (results[index] !== true) throw new FirmwareError(`signature ${String(index + 1)} does not verify against the update with its key`)
    const keyCrc = keyCrcOfBase64(entry.stationKey)
    if (!byKey.has(keyCrc)) byKey.set(keyCrc, { keyCrc, stationKey: entry.stationKey, signature: entry.signature })
  })
  return [...byKey.values()]
}

function keyCrcOfBase64(stationKey: string): number {
  return keyCrcOf(Buffer.from(stationKey, 'base64'))
}
