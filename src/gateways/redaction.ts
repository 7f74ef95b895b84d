// Secrets as the operator CLI shows them: their size, never their value, unless the operator asks for it.

/** What stands in for a secret: how long it is, which is enough to tell an empty or truncated one. */
export function redacted(bytes: number): string {
  return `<redacted, ${bytes} bytes>`
}

/**
 * The record's fields with the TC token redacted: `tcCredentials.token` and `.bearer` hold it in plain text
 * (README "Gateway records"). Whatever their type, so a malformed record leaks nothing either.
 */
export function redactRecordFields(fields: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const credentials = fields.tcCredentials
  if (typeof credentials !== 'object' || credentials === null || Array.isArray(credentials)) return { ...fields }
  const hidden: Record<string, unknown> = { ...(credentials as Record<string, unknown>) }
  for (const name of ['token', 'bearer']) {
    const secret = hidden[name]
    if (secret !== undefined) hidden[name] = typeof secret === 'string' ? redacted(Buffer.byteLength(secret, 'utf8')) : '<redacted>'
  }
  return { ...fields, tcCredentials: hidden }
}
