// buildInfo: the labels of cups_build_info, so a dashboard shows which version, Node and engines each replica runs.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import type { Config } from '../config'

export function buildInfo(config: Pick<Config, 'credentials' | 'storage'>): Record<string, string> {
  return {
    version: packageVersion(),
    node_version: process.version,
    mint_engine: config.credentials.mintEngine,
    storage: config.storage.s3 === undefined ? 'filesystem' : 's3',
  }
}

/** package.json's version, found upwards from this file: src/ under ts-node, dist/src/ when built. */
function packageVersion(): string {
  for (let dir = __dirname; path.dirname(dir) !== dir; dir = path.dirname(dir)) {
    try {
      const manifest = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown }
      if (manifest.name === 'basicstation-cups-server' && typeof manifest.version === 'string') return manifest.version
    } catch {
      // not here; one level up
    }
  }
  return 'unknown'
}
