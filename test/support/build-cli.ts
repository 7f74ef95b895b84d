// Vitest global setup: compile once (npm run build's tsc), so CLI tests run dist/cli.js exactly as an operator does.
import { execFileSync } from 'node:child_process'
import path from 'node:path'

export default function buildCli(): void {
  const root = path.resolve(__dirname, '..', '..')
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' })
}
