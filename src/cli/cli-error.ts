// CliError: a failure the operator can act on; its message names the EUI and the reason (exit status 1).
import { ConfigError } from '../errors'

export class CliError extends Error {}

/** Runs work on one gateway: any failure (storage down, a bad stored object) is reported naming the EUI. */
export async function forGateway<T>(eui: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work()
  } catch (err) {
    if (err instanceof CliError || err instanceof ConfigError) throw err
    throw new CliError(`${eui}: ${(err as Error).message}`, { cause: err })
  }
}
