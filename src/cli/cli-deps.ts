// CliDeps: what every command gets: the configuration, the storage, the clock and where to print.
import type { Config } from '../config'
import type { Logger } from '../logger'
import type { BlobStore } from '../storage/blob-store'

export interface CliOutput {
  write(text: string): unknown
  /** A terminal: progress bars go here only then. */
  readonly isTTY?: boolean
}

export interface CliDeps {
  /** Read on first use, so `--help` works with a broken .env; throws ConfigError. */
  readonly config: () => Config
  /** The configured storage, without a read cache (the CLI always reads what is stored now); created once. */
  readonly store: () => BlobStore
  /** Audit lines (JSON, like the server's) on stderr. */
  readonly audit: () => Pick<Logger, 'info' | 'warn'>
  readonly now: () => Date
  /** Relative paths (CSV files, --request files, output directories) are resolved against this. */
  readonly cwd: string
  readonly stdout: CliOutput
  readonly stderr: CliOutput
}
