// DoctorCheck: one finding of `cups-server doctor`: which check, how it came out, and what the operator should know.

/** fail: the server refuses to start, or gateways would fail; warn: it works, but needs attention soon. */
export type CheckStatus = 'ok' | 'warn' | 'fail'

export interface DoctorCheck {
  readonly check: string
  readonly status: CheckStatus
  /** One line: what was found, and for warn and fail what to do. */
  readonly detail: string
}

export function ok(check: string, detail: string): DoctorCheck {
  return { check, status: 'ok', detail }
}

export function warn(check: string, detail: string): DoctorCheck {
  return { check, status: 'warn', detail }
}

export function fail(check: string, detail: string): DoctorCheck {
  return { check, status: 'fail', detail }
}

/** A certificate named the way every check names one: its subject on one line. */
export function subjectOf(certificate: { readonly subject: string }): string {
  return `"${certificate.subject.split('\n').join(', ')}"`
}

/** A date as the operator reads it in a check line: day precision is what expiry decisions need. */
export function dayOf(date: Date): string {
  return date.toISOString().slice(0, 10)
}
