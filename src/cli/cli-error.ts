// CliError: a failure the operator can act on; its message names the EUI and the reason (exit status 1).
export class CliError extends Error {}
