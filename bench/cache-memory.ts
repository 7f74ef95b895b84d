// Owns the in-process measurement of what the server's read cache retains per gateway (CachedBlobStore over FsBlobStore).
import { execFile } from 'node:child_process'
import { readdir } from 'node:fs/promises'
import path from 'node:path'
import { CachedBlobStore } from '../src/storage/cached-blob-store'
import { FsBlobStore } from '../src/storage/fs-blob-store'
import { storageKeys } from '../src/storage/storage-keys'

/** CachedBlobStore's default maxEntries (src/storage/cached-blob-store.ts); server.ts does not override it. */
const CACHE_MAX_ENTRIES = 100_000

export interface CacheMemory {
  readonly gateways: number
  readonly entries: number
  readonly retainedBytes: number
  readonly bytesPerGateway: number
  /** Bundle bytes alone, per gateway: the rest is Map entry, key strings, StoredBlob objects and etags. */
  readonly blobBytesPerGateway: number
  readonly projectedAtCapMiB: number
  readonly method: string
}

/** Both calls: a full GC promotes, the second frees what the first only finalised. */
function collector(): () => void {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error('run with --expose-gc')
  return () => {
    gc()
    gc()
  }
}

function liveBytes(): number {
  const usage = process.memoryUsage()
  return usage.heapUsed + usage.external
}

/**
 * Reads both bundles of every gateway in dataDir through a fresh CachedBlobStore (what the server does on a
 * poll) and measures the memory that stays reachable after a full GC: a precise per-gateway cost, unlike
 * RSS, which also holds garbage, JIT code and allocator slack. Runs in a fresh child process (node --expose-gc),
 * so no garbage of the other benchmarks can be collected in between.
 */
export function measureCacheMemory(dataDir: string): Promise<CacheMemory> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--expose-gc', '-r', 'ts-node/register/transpile-only', __filename, dataDir],
      { cwd: path.resolve(__dirname, '..'), timeout: 60_000 },
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`cache memory measurement failed: ${error.message}\n${stderr}`))
          return
        }
        try {
          resolve(JSON.parse(stdout) as CacheMemory)
        } catch {
          reject(new Error(`cache memory measurement printed no JSON: ${stdout.slice(0, 200)}`))
        }
      },
    )
  })
}

async function measureHere(dataDir: string): Promise<CacheMemory> {
  const gc = collector()
  const prefix = 'cups/'
  const euis = (await readdir(path.join(dataDir, prefix))).filter((name) => /^[0-9a-f]{16}$/.test(name))
  const keys = euis.flatMap((eui) => {
    const gateway = storageKeys(prefix, eui)
    return [gateway.cupsCredentials, gateway.tcCredentials]
  })
  gc()
  const before = liveBytes()
  const store = new CachedBlobStore(new FsBlobStore(dataDir), 3_600_000)
  let blobBytes = 0
  for (let start = 0; start < keys.length; start += 200) {
    const blobs = await Promise.all(keys.slice(start, start + 200).map((key) => store.get(key)))
    blobBytes += blobs.reduce((sum, blob) => sum + (blob?.body.length ?? 0), 0)
  }
  gc()
  const retainedBytes = liveBytes() - before
  // Keeps the store reachable until after the measurement.
  if ((await store.get(keys[0] ?? '')) === undefined && keys.length > 0) throw new Error('cache lost an entry')
  const bytesPerGateway = retainedBytes / Math.max(1, euis.length)
  return {
    gateways: euis.length,
    entries: keys.length,
    retainedBytes,
    bytesPerGateway,
    blobBytesPerGateway: blobBytes / Math.max(1, euis.length),
    projectedAtCapMiB: (bytesPerGateway * (CACHE_MAX_ENTRIES / 2)) / 1024 / 1024,
    method:
      `a fresh child process (node --expose-gc) reads both bundles of each of the ${euis.length} gateways in the run's DATA_DIR once through a new CachedBlobStore; ` +
      `heapUsed + external after a full GC, minus before; projection to the cache's ${CACHE_MAX_ENTRIES.toLocaleString('en-US')}-entry cap (2 entries per gateway)`,
  }
}

if (require.main === module) {
  const dataDir = process.argv[2]
  if (dataDir === undefined) throw new Error('usage: node --expose-gc -r ts-node/register/transpile-only bench/cache-memory.ts <DATA_DIR>')
  measureHere(dataDir).then(
    (result) => process.stdout.write(JSON.stringify(result)),
    (err: unknown) => {
      process.stderr.write(`${String(err)}\n`)
      process.exitCode = 1
    },
  )
}
