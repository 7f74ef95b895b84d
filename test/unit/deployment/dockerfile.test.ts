// Dockerfile and docker-compose.yml checked as text (no Docker engine here): they refer only to what exists.
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { SHIPPED_NODE_FLAGS } from '../../../bench/server-process'

const root = path.resolve(__dirname, '../../..')
const read = (file: string): string => readFileSync(path.join(root, file), 'utf8')

describe('deployment files', () => {
  const dockerfile = read('Dockerfile')

  it('copies only files that exist into the image', () => {
    const sources = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((match) => (match[1] ?? '').split(/\s+/))
    expect(sources.length).toBeGreaterThan(3)
    for (const source of sources) expect(existsSync(path.join(root, source)), source).toBe(true)
  })

  it('starts the file the build emits', () => {
    const build = JSON.parse(read('tsconfig.build.json')) as { include: string[] }
    const base = JSON.parse(read('tsconfig.json')) as { compilerOptions: { outDir: string; rootDir: string } }
    expect(build.include).toContain('index.ts')
    expect([base.compilerOptions.outDir, base.compilerOptions.rootDir]).toEqual(['dist', '.'])
    expect(dockerfile).toMatch(/^CMD \["node", "--max-semi-space-size=8", "dist\/index\.js"\]$/m)
    expect(dockerfile).toMatch(/npm ci --omit=dev --ignore-scripts/)
    expect(dockerfile).toMatch(/apt-get install -y --no-install-recommends openssl/)
    expect(dockerfile).toMatch(/^USER node$/m)
  })

  it('runs the server with the node flags npm start and the benchmarks use', () => {
    const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> }
    expect(pkg.scripts.start).toBe(`node ${SHIPPED_NODE_FLAGS.join(' ')} dist/index.js`)
    expect(dockerfile).toContain(`CMD ["node", ${SHIPPED_NODE_FLAGS.map((flag) => JSON.stringify(flag)).join(', ')}, "dist/index.js"]`)
  })

  it('builds the CLI that package.json names as its bin, runnable as a command', () => {
    const pkg = JSON.parse(read('package.json')) as { bin: Record<string, string> }
    const build = JSON.parse(read('tsconfig.build.json')) as { include: string[] }
    expect(pkg.bin['cups-server']).toBe('dist/cli.js')
    expect(build.include).toContain('cli.ts')
    expect(read('cli.ts').startsWith('#!/usr/bin/env node\n')).toBe(true)
    // In the image it is on PATH as `cups-server`, executable.
    expect(dockerfile).toMatch(/chmod 755 dist\/cli\.js && ln -s \/app\/dist\/cli\.js \/usr\/local\/bin\/cups-server/)
  })

  it('documents every variable docker-compose.yml reads in .env.example', () => {
    const documented = new Set([...read('.env.example').matchAll(/^([A-Z0-9_]+)=/gm)].map((match) => match[1]))
    const used = ['docker-compose.yml', 'docker-compose.filesystem.yml'].flatMap((file) => [...read(file).matchAll(/\$\{([A-Z0-9_]+)/g)].map((match) => match[1]))
    expect(used.length).toBeGreaterThan(0)
    for (const variable of used) expect(documented.has(variable), variable).toBe(true)
  })

  it('keeps secrets and local state out of the build context', () => {
    const ignored = read('.dockerignore').split('\n')
    for (const entry of ['node_modules', '.env', 'certs', 'data']) expect(ignored).toContain(entry)
  })
})
