// Owns `npm run bench:profile`: where a poll's CPU goes in the server, from a --cpu-prof of the built server under load.
import { X509Certificate } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import https from 'node:https'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { TLS_CONTEXT_OPTIONS } from '../src/http/tls-options'
import { postUpdateInfo, runLoad, stationTlsContext } from './load-client'
import type { Reply } from './load-client'
import { startPeer } from './peers'
import type { PeerKind } from './peers'
import { buildServer, startServerProcess } from './server-process'
import type { ServerProcess } from './server-process'
import { applyFirstAnswer, firstContactReport, stationBody } from './station'
import type { ProvisionedStation } from './station'

/**
 * Usage: npm run bench:profile -- [keep-alive|fresh] [polls] [LOG_LEVEL|bare-https|bare-fastify]
 * The server (LOG_LEVEL=info unless given) provisions 20 gateways, then takes `polls` "no change" polls; only the
 * samples taken during those polls count. Prints self time by function and by where the code lives. Given a peer
 * (bench/peers.ts) instead of a level, the same polls go to that floor, profiled the same way, for comparison.
 */
const [mode = 'keep-alive', pollsArg = '20000', target = 'info'] = process.argv.slice(2)
const POLLS = Number(pollsArg)
const GATEWAYS = 20
const repoRoot = path.resolve(__dirname, '..')

interface ProfileNode {
  readonly id: number
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[]
  readonly startTime: number
  readonly endTime: number
  readonly samples: readonly number[]
  readonly timeDeltas: readonly number[]
}

async function main(): Promise<void> {
  if (mode !== 'keep-alive' && mode !== 'fresh') throw new Error(`mode must be keep-alive or fresh, not ${mode}`)
  const work = await mkdtemp(path.join(os.tmpdir(), 'cups-profile-'))
  try {
    const build = await buildServer(repoRoot, path.join(work, 'build'))
    const profiles = path.join(work, 'profiles')
    const profiling = (dir: string): string[] => ['--cpu-prof', `--cpu-prof-dir=${dir}`]
    await mkdir(path.join(work, 'server'), { recursive: true })
    const server = await startServerProcess({
      entry: build.entry,
      repoRoot,
      workDir: path.join(work, 'server'),
      logLevel: isPeer(target) ? 'info' : target,
      logFile: path.join(work, 'server.log'),
      mintEngine: 'node',
      // With a peer profiled, the server's own profile goes elsewhere.
      nodeArgs: profiling(isPeer(target) ? path.join(work, 'unused-profiles') : profiles),
    })
    let run: Run
    // When the profiled process exited: its profile ends then.
    let exitedMs = 0
    try {
      const peer = isPeer(target)
        ? await startPeer(target, { workDir: work, certPath: path.join(work, 'server', 'certs'), repoRoot, ciphers: String(TLS_CONTEXT_OPTIONS.ciphers), nodeArgs: profiling(profiles) })
        : undefined
      try {
        run = await polls(server, peer ?? server)
      } finally {
        await peer?.stop()
        exitedMs = performance.now()
      }
    } finally {
      await server.stop()
      if (!isPeer(target)) exitedMs = performance.now()
    }
    const [file] = await readdir(profiles)
    if (file === undefined) throw new Error('the profiled process wrote no profile')
    const profile = JSON.parse(await readFile(path.join(profiles, file), 'utf8')) as CpuProfile
    // Count back from the profile's end to the load's window.
    const from = profile.endTime - (exitedMs - run.fromMs) * 1000
    const to = profile.endTime - (exitedMs - run.toMs) * 1000
    process.stdout.write(`${mode} polls, ${isPeer(target) ? `the ${target} peer` : `LOG_LEVEL=${target}`}: ${POLLS.toLocaleString('en-US')} at ${run.perSecond.toFixed(0)}/s\n`)
    process.stdout.write(report(profile, from, to, POLLS))
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

interface Run {
  readonly fromMs: number
  readonly toMs: number
  readonly perSecond: number
}

/** Gateways provisioned by the server, then the polls against `polled` (the server or a peer on its certificates). */
async function polls(server: ServerProcess, polled: ServerProcess): Promise<Run> {
  const stations = await provision(server.port, server.caPem)
  const agent = mode === 'keep-alive' ? new https.Agent({ keepAlive: true, maxSockets: 4 }) : false
  try {
    const poll = async (i: number): Promise<Reply> => {
      // Keep-alive: one gateway on pooled connections; fresh: every gateway in turn, a handshake each.
      const chosen = stations[mode === 'keep-alive' ? 0 : i % stations.length]
      if (chosen === undefined) throw new Error('no gateway was provisioned')
      const reply = await postUpdateInfo({ port: polled.port, body: chosen.noChangeBody, tls: chosen.tls, agent })
      if (reply.status !== 200 || reply.body.length !== 14) throw new Error(`poll answered ${String(reply.status)} with ${String(reply.body.length)} bytes`)
      return reply
    }
    await runLoad({ count: Math.min(2000, POLLS), maxMs: 60_000, concurrency: 4 }, poll)
    const fromMs = performance.now()
    const load = await runLoad({ count: POLLS, maxMs: 300_000, concurrency: 4 }, poll)
    const toMs = performance.now()
    if (load.errors > 0) throw new Error(`polls failed: ${load.errorSamples.join('; ')}`)
    return { fromMs, toMs, perSecond: (load.latenciesMs.length / (toMs - fromMs)) * 1000 }
  } finally {
    if (agent !== false) agent.destroy()
  }
}

function isPeer(name: string): name is PeerKind {
  return name === 'bare-https' || name === 'bare-fastify'
}

async function provision(port: number, caPem: Buffer): Promise<ProvisionedStation[]> {
  const anonymous = stationTlsContext(caPem)
  const report = firstContactReport(port, new X509Certificate(caPem).raw)
  const stations: ProvisionedStation[] = []
  for (let i = 0; i < GATEWAYS; i++) {
    const eui = `d0${i.toString(16).padStart(14, '0')}`
    const reply = await postUpdateInfo({ port, body: stationBody(eui, report), tls: anonymous, agent: false })
    stations.push(applyFirstAnswer(eui, port, reply.body))
  }
  return stations
}

/** Self time per function and per place (our src/, each package, Node's own, the engine), in µs per poll. */
function report(profile: CpuProfile, from: number, to: number, polls: number): string {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const functions = new Map<string, number>()
  const places = new Map<string, number>()
  let at = profile.startTime
  let total = 0
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0
    at += delta
    if (at < from || at > to) return
    const node = byId.get(id)
    if (node === undefined) return
    const { functionName, url, lineNumber } = node.callFrame
    if (functionName === '(idle)') return
    total += delta
    const where = placeOf(url)
    const name = `${functionName || '(anonymous)'} ${url === '' ? '' : `${shorten(url)}:${String(lineNumber + 1)}`}`
    functions.set(name, (functions.get(name) ?? 0) + delta)
    places.set(where, (places.get(where) ?? 0) + delta)
  })
  const perPoll = (us: number): string => (us / polls).toFixed(1).padStart(7)
  const top = (map: Map<string, number>, n: number): string[] =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => `${perPoll(us)} µs  ${((us / total) * 100).toFixed(1).padStart(5)} %  ${name}`)
  return [
    `busy ${perPoll(total).trim()} µs per poll on the main thread (TLS and JS; not the thread pool)`,
    '',
    'by place:',
    ...top(places, 20),
    '',
    'by function (self time):',
    ...top(functions, 40),
    '',
  ].join('\n')
}

function placeOf(url: string): string {
  if (url === '') return '(engine, GC, native)'
  if (url.startsWith('node:')) return `node ${url.slice(5).split('/')[0] ?? ''}`
  const packaged = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (packaged?.[1] !== undefined) return packaged[1]
  const ours = /\/build\/(.+)$/.exec(url)
  return ours?.[1] ?? url
}

function shorten(url: string): string {
  return url.replace(/^file:\/\/.*\/(node_modules|build)\//, '').replace(/^node:/, '')
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
  process.exitCode = 1
})
