// runOpenssl: one OpenSSL CLI process from an argv array, bounded in time, failures as MintingError.
import { execFile } from 'node:child_process'
import { MintingError } from '../errors'

export interface RunOpensslOptions {
  readonly cwd?: string
  /** The child is killed (SIGKILL) when this expires and the call rejects. */
  readonly timeoutMs: number
}

export interface OpensslOutput {
  readonly stdout: Buffer
  /** OpenSSL writes progress ("-----") and warnings here even on success. */
  readonly stderr: string
}

/** Enough for a certificate or key on stdout; anything larger is a misuse, not a bigger cert. */
const MAX_STDOUT_BYTES = 1024 * 1024
/** stderr is for the log; OpenSSL's error queue for one failure is a few hundred bytes. */
const MAX_STDERR_CHARS = 8192

/**
 * Runs `openssl <args>` without a shell. The child gets PATH only (no inherited OPENSSL_CONF,
 * HOME or secrets), and stdin at EOF, so a passphrase prompt fails at once rather than waiting for
 * the timeout. Rejects with MintingError whose message names the subcommand and the exit status
 * but never the arguments or output; stderr is kept on the error for the log.
 */
export function runOpenssl(args: readonly string[], options: RunOpensslOptions): Promise<OpensslOutput> {
  const command = `openssl ${args[0] ?? ''}`.trim()
  return new Promise((resolve, reject) => {
    const child = execFile(
      'openssl',
      args,
      {
        cwd: options.cwd,
        env: { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin' },
        encoding: 'buffer',
        timeout: options.timeoutMs,
        // SIGTERM could be caught or ignored; a stuck child must not outlive its request.
        killSignal: 'SIGKILL',
        maxBuffer: MAX_STDOUT_BYTES,
        windowsHide: true,
      },
      (error, stdout, stderrBytes) => {
        const stderr = truncate(stderrBytes.toString('utf8'))
        if (!error) {
          resolve({ stdout, stderr })
          return
        }
        reject(new MintingError(describeFailure(command, error, options.timeoutMs), stderr))
      },
    )
    // OpenSSL reads passphrases from the terminal or stdin; closing stdin makes that an error.
    child.stdin?.end()
  })
}

interface ChildFailure {
  readonly code?: string | number | null
  readonly killed?: boolean
  readonly signal?: NodeJS.Signals
}

function describeFailure(command: string, error: ChildFailure, timeoutMs: number): string {
  if (error.code === 'ENOENT') return `${command}: the openssl executable was not found on PATH`
  if (error.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') return `${command}: output exceeded ${MAX_STDOUT_BYTES} bytes`
  // execFile's own timeout is the only thing here that kills the child.
  if (error.killed === true) return `${command}: timed out after ${timeoutMs} ms`
  if (typeof error.code === 'number') return `${command}: failed with exit code ${error.code}`
  if (error.signal) return `${command}: killed by ${error.signal}`
  return `${command}: could not be run (${String(error.code)})`
}

function truncate(text: string): string {
  return text.length <= MAX_STDERR_CHARS ? text : `${text.slice(0, MAX_STDERR_CHARS)}\n[stderr truncated]`
}
