// euiArgument: a gateway EUI as an operator types it (any form the server accepts), canonical or a CliError.
import { parseRouterId } from '../cups/router-id'
import { CliError } from './cli-error'

export function euiArgument(text: string): string {
  try {
    return parseRouterId(text)
  } catch (err) {
    throw new CliError(`${JSON.stringify(text)} is not a gateway EUI: ${(err as Error).message}`)
  }
}
