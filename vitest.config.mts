// Vitest settings: real sockets and OpenSSL make some tests slow, and CI needs machine-readable results.
import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // CLI tests run the built binary (dist/cli.js), as an operator does after `npm run build`.
    globalSetup: ['test/support/build-cli.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // s3rver (test-only) pages listings with a DES cipher that OpenSSL 3 keeps in its legacy provider.
    execArgv: ['--openssl-legacy-provider'],
    // Under CI, .ci/run counts passed and failed tests from this file.
    reporters: process.env.CI === 'true' ? ['default', ['json', { outputFile: 'test-results.json' }]] : ['default'],
  },
})
