// formatTable: rows as aligned plain-text columns for a terminal (every command's default output).

/** Columns padded to their widest cell, two spaces apart; trailing spaces trimmed. */
export function formatTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => (row[column] ?? '').length)))
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join('  ')
      .trimEnd()
  return [line(headers), ...rows.map(line)].map((text) => `${text}\n`).join('')
}
