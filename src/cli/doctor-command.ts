// `cups-server doctor`: every check runDoctor makes, one line each (or --json); exit status 1 on any FAIL.
import type { Command } from 'commander'
import type { CheckStatus, DoctorCheck } from '../doctor/doctor-check'
import { runDoctor } from '../doctor/run-doctor'
import type { CliDeps } from './cli-deps'
import { EXIT, ExitStatus } from './run-cli'

// Six columns, so the check names line up: "ok    storage: ...", "FAIL  server certificate: ...".
const LABELS: Readonly<Record<CheckStatus, string>> = { ok: 'ok    ', warn: 'warn  ', fail: 'FAIL  ' }

export function addDoctorCommand(program: Command, deps: CliDeps): void {
  program
    .command('doctor')
    .description(
      'check what the server needs, changing nothing but one probe object: configuration, what start refuses in CERT_PATH ' +
        '(trust chain, CUPS_URI host), certificate expiry, the development PKI, the LNS CA, a storage round trip, the clock ' +
        'and every gateway record; exit status 1 on any FAIL, warnings alone exit 0',
    )
    .option('--json', 'print the checks as a JSON array of {check, status, detail}')
    .action(async (options: { json?: boolean }) => {
      const checks = await runDoctor(deps)
      deps.stdout.write(options.json === true ? `${JSON.stringify(checks)}\n` : checks.map(formatCheck).join(''))
      if (checks.some((check) => check.status === 'fail')) throw new ExitStatus(EXIT.failed)
    })
}

/** One line; a detail never spans lines, so each check stays one grep-able line. */
export function formatCheck(check: DoctorCheck): string {
  return `${LABELS[check.status]}${check.check}: ${check.detail.replace(/\s*\n\s*/g, ' ')}\n`
}
