// runOpenssl: one OpenSSL CLI process from an argv array, bounded in time, failures as MintingError.
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { MintingError } from '../errors'

export interface RunOpensslOptions {
  readonly cwd?: string
  /** The child is killed (SIGKILL) when this expires and the call rejects. */
  readonly timeoutMs: number
  /** Open descriptors the child gets as fd 3, 4, ...: how it reaches files without a name (/proc/self/fd/3). */
  readonly fds?: readonly number[]
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
/** Bytes of stderr kept before decoding: room for MAX_STDERR_CHARS of any UTF-8. */
const MAX_STDERR_BYTES = MAX_STDERR_CHARS * 4

/**
 * Runs `openssl <args>` without a shell. The child gets PATH only (no inherited OPENSSL_CONF,
 * HOME or secrets), stdin at EOF, so a passphrase prompt fails at once rather than waiting for
 * the timeout, and no descriptor of ours but `fds`. Settles once the child has exited. Rejects with
 * MintingError whose message names the subcommand and the exit status but never the arguments or
 * output; stderr is kept on the error for the log.
 */
export function runOpenssl(args: readonly string[], options: RunOpensslOptions): Promise<OpensslOutput> {
  const command = `openssl ${args[0] ?? ''}`.trim()
  return new Promise((resolve, reject) => {
    let child: ChildProcess
    try {
      // spawn rather than execFile: only spawn maps extra descriptors into the child.
      child = spawn('openssl', args, {
        cwd: options.cwd,
        env: { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin' },
        stdio: ['pipe', 'pipe', 'pipe', ...(options.fds ?? [])],
        windowsHide: true,
      })
    } catch (err) {
      // spawn throws, rather than emitting 'error', for a descriptor that is not open (EBADF).
      reject(new MintingError(`${command}: could not be run (${String((err as NodeJS.ErrnoException).code)})`))
      return
    }
    const stdout: Buffer[] = []
    const stderr: Buffer[] = []
    let stdoutBytes = 0
    let stderrBytes = 0
    let failure: string | undefined
    let settled = false
    const stderrText = (): string => truncate(Buffer.concat(stderr).toString('utf8'))
    const fail = (message: string): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      reject(new MintingError(message, stderrText()))
    }
    // SIGTERM could be caught or ignored; a stuck child must not outlive its request.
    const kill = (message: string): void => {
      failure ??= message
      child.kill('SIGKILL')
    }
    const timer = setTimeout(() => {
      kill(`${command}: timed out after ${options.timeoutMs} ms`)
    }, options.timeoutMs)

    child.stdout?.on('data', (chunk: Buffer) => {
      stdoutBytes += chunk.length
      if (stdoutBytes > MAX_STDOUT_BYTES) kill(`${command}: output exceeded ${MAX_STDOUT_BYTES} bytes`)
      else stdout.push(chunk)
    })
    child.stderr?.on('data', (chunk: Buffer) => {
      if (stderrBytes < MAX_STDERR_BYTES) stderr.push(chunk)
      stderrBytes += chunk.length
    })
    // Not started (ENOENT, EACCES): no 'close' follows for sure, so this settles.
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') fail(`${command}: the openssl executable was not found on PATH`)
      else fail(failure ?? `${command}: could not be run (${String(err.code)})`)
    })
    child.on('close', (code: number | null, signal: NodeJS.Signals | null) => {
      if (failure !== undefined) fail(failure)
      else if (code === 0) {
        settled = true
        clearTimeout(timer)
        resolve({ stdout: Buffer.concat(stdout), stderr: stderrText() })
      } else if (code !== null) fail(`${command}: failed with exit code ${code}`)
      else fail(`${command}: killed by ${signal ?? 'a signal'}`)
    })
    // OpenSSL reads passphrases from the terminal or stdin; closing stdin makes that an error. A child
    // that exits first can make the end fail (EPIPE); its exit status says what happened.
    child.stdin?.on('error', () => undefined)
    child.stdin?.end()
  })
}

function truncate(text: string): string {
  return text.length <= MAX_STDERR_CHARS ? text : `${text.slice(0, MAX_STDERR_CHARS)}\n[stderr truncated]`
}
