// runCliBinary: the built `cups-server` (dist/cli.js, package.json bin) as a child process, and the storages it runs on.
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { CreateBucketCommand, DeleteBucketCommand, DeleteObjectsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3'
import type { BlobStore } from '../../src/storage/blob-store'
import { FsBlobStore } from '../../src/storage/fs-blob-store'
import { S3BlobStore } from '../../src/storage/s3-blob-store'
import { RADOSGW, radosgwGate } from './radosgw'

export const REPO_ROOT = path.resolve(__dirname, '..', '..')
export const CLI_BINARY = path.join(REPO_ROOT, 'dist', 'cli.js')

export interface CliRun {
  readonly status: number
  readonly stdout: string
  readonly stderr: string
}

export interface CliRunOptions {
  /** The whole environment besides PATH: nothing else of the test process leaks in. */
  readonly env: Readonly<Record<string, string>>
  /** Working directory (holds no .env unless the test writes one); default a new empty one per storage. */
  readonly cwd?: string
  readonly timeoutMs?: number
}

/** Runs `node dist/cli.js ...args` and resolves with its exit status and output (never rejects on a status). */
export function runCliBinary(args: readonly string[], options: CliRunOptions): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [CLI_BINARY, ...args],
      {
        cwd: options.cwd ?? REPO_ROOT,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...options.env },
        timeout: options.timeoutMs ?? 60_000,
        maxBuffer: 64 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        if (err !== null && typeof err.code !== 'number') {
          reject(new Error(`cups-server could not run: ${err.message}`, { cause: err }))
          return
        }
        resolve({ status: err === null ? 0 : Number(err.code), stdout, stderr })
      },
    )
  })
}

/** One storage the CLI is tested on: the environment that selects it, and a direct store to arrange and check with. */
export interface CliStorage {
  readonly name: 'fs' | 'radosgw'
  /** DATA_DIR or the S3_* variables, plus CERT_PATH (a fresh directory: the dev PKI is generated there on demand). */
  readonly env: Record<string, string>
  /** The same objects as the CLI sees, through our adapter (no cache). */
  readonly store: BlobStore
  /** A scratch directory for files the test writes (CSV, requests, output). */
  readonly dir: string
  cleanup(): Promise<void>
}

export interface CliStorageKind {
  readonly name: 'fs' | 'radosgw'
  /** False: skip (radosgw not running outside CI). */
  readonly enabled: boolean
  create(): Promise<CliStorage>
}

const gate = radosgwGate('the CLI on radosgw')

/** The storages every CLI command is tested on: the filesystem store and radosgw (S3). */
export const CLI_STORAGES: readonly CliStorageKind[] = [
  {
    name: 'fs',
    enabled: true,
    create: async () => {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'cups-cli-'))
      const dataDir = path.join(dir, 'data')
      return {
        name: 'fs',
        env: { DATA_DIR: dataDir, CERT_PATH: path.join(dir, 'certs') },
        store: new FsBlobStore(dataDir),
        dir,
        cleanup: () => rm(dir, { recursive: true, force: true }),
      }
    },
  },
  {
    name: 'radosgw',
    enabled: gate.enabled,
    create: async () => {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'cups-cli-s3-'))
      const bucket = `cups-cli-${Math.random().toString(16).slice(2, 12)}`
      const client = new S3Client({
        region: 'us-east-1',
        endpoint: RADOSGW.endpoint,
        forcePathStyle: true,
        credentials: { accessKeyId: RADOSGW.accessKeyId, secretAccessKey: RADOSGW.secretAccessKey },
      })
      await client.send(new CreateBucketCommand({ Bucket: bucket }))
      return {
        name: 'radosgw',
        env: {
          S3_BUCKET_NAME: bucket,
          S3_BUCKET_ENDPOINT: RADOSGW.endpoint,
          S3_ACCESS_KEY_ID: RADOSGW.accessKeyId,
          S3_SECRET_ACCESS_KEY: RADOSGW.secretAccessKey,
          CERT_PATH: path.join(dir, 'certs'),
        },
        store: new S3BlobStore({ bucket, client }),
        dir,
        cleanup: async () => {
          for (;;) {
            const page = await client.send(new ListObjectsV2Command({ Bucket: bucket }))
            const objects = (page.Contents ?? []).flatMap((o) => (o.Key === undefined ? [] : [{ Key: o.Key }]))
            if (objects.length === 0) break
            await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: objects, Quiet: true } }))
          }
          await client.send(new DeleteBucketCommand({ Bucket: bucket }))
          client.destroy()
          await rm(dir, { recursive: true, force: true })
        },
      }
    },
  },
]
