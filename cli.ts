#!/usr/bin/env node
// CLI entry (`cups-server`, package.json bin): load .env, run one operator command, exit with its status.
import { config as loadDotenv } from 'dotenv'
import { runCli } from './src/cli/run-cli'

loadDotenv({ quiet: true })
void runCli(process.argv.slice(2), { env: process.env, stdout: process.stdout, stderr: process.stderr }).then((status) => {
  process.exitCode = status
})
