// Vitest settings: real sockets and OpenSSL make some tests slow, and CI needs machine-readable results.
import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // s3rver (test-only) pages listings with a DES cipher that OpenSSL 3 keeps in its legacy provider.
    execArgv: ['--openssl-legacy-provider'],
    // Under CI, .ci/run counts passed and failed tests from this file.
    reporters: process.env.CI === 'true' ? ['default', ['json', { outputFile: 'test-results.json' }]] : ['default'],
  },
})
