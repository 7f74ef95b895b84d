// Owns measuring one load phase against a server process: /proc samples around it, log growth, per-op figures.
import type { LoadPlan, LoadRun, LoadSamples, Reply } from './load-client'
import { runLoad, summarise } from './load-client'
import { delta } from './proc-stats'
import type { ServerProcess } from './server-process'
import { summariseLog } from './server-process'

/** A running server and where its log goes. */
export interface Target {
  readonly server: ServerProcess
  readonly logFile: string
  readonly logLevel: string
}

export interface PhaseMeta {
  readonly id: string
  readonly scenario: string
  readonly method: string
  readonly unit: 'gateway' | 'request'
}

export interface PhaseResult extends PhaseMeta {
  readonly logLevel: string
  /** Requests sent before measuring (JIT, caches, connections); not in any figure. */
  readonly warmup: number
  /** Measured blocks; more than 1 when two servers were measured in turns (A B B A ...). */
  readonly blocks: number
  readonly load: LoadRun
  /** Server process CPU (utime+stime) plus its reaped children (OpenSSL), per successful operation. */
  readonly serverCpuMsPerOp: number
  /** The same, block by block (one entry unless measured in turns). */
  readonly blockServerCpuMsPerOp: readonly number[]
  readonly serverNodeCpuMsPerOp: number
  readonly serverOpensslCpuMsPerOp: number
  /** Server CPU time / wall time: how many cores the server kept busy. */
  readonly serverCores: number
  readonly clientCpuMsPerOp: number
  readonly rssAfterKiB: number
  readonly logBytesPerOp: number
}

export type Task = (index: number) => Promise<Reply>

interface Block {
  readonly samples: LoadSamples
  readonly cpuSelfMs: number
  readonly cpuChildrenMs: number
  readonly wallMs: number
  readonly logBytes: number
  readonly rssAfterKiB: number
}

async function warmUp(plan: LoadPlan, task: Task, count: number, id: string): Promise<void> {
  if (count <= 0) return
  const warm = await runLoad({ count, maxMs: plan.maxMs, concurrency: plan.concurrency }, task)
  if (warm.errors > 0) throw new Error(`${id} warm-up failed: ${warm.errorSamples.join('; ')}`)
}

async function measureBlock(target: Target, plan: LoadPlan, task: Task, firstIndex: number): Promise<Block> {
  const logFrom = summariseLog(target.logFile).end
  const before = target.server.sample()
  const samples = await runLoad(plan, task, firstIndex)
  const after = target.server.sample()
  const cpu = delta(before, after)
  return {
    samples,
    cpuSelfMs: cpu.cpuSelfMs,
    cpuChildrenMs: cpu.cpuChildrenMs,
    wallMs: cpu.wallMs,
    logBytes: summariseLog(target.logFile, logFrom).bytes,
    rssAfterKiB: after.rssKiB,
  }
}

function phaseResult(meta: PhaseMeta, target: Target, warmup: number, blocks: readonly Block[]): PhaseResult {
  const load = summarise(blocks.map((block) => block.samples))
  const sum = (pick: (block: Block) => number): number => blocks.reduce((total, block) => total + pick(block), 0)
  const ops = Math.max(1, load.ok)
  const self = sum((block) => block.cpuSelfMs)
  const children = sum((block) => block.cpuChildrenMs)
  return {
    ...meta,
    logLevel: target.logLevel,
    warmup,
    blocks: blocks.length,
    load,
    serverCpuMsPerOp: (self + children) / ops,
    blockServerCpuMsPerOp: blocks.map((block) => (block.cpuSelfMs + block.cpuChildrenMs) / Math.max(1, block.samples.latenciesMs.length)),
    serverNodeCpuMsPerOp: self / ops,
    serverOpensslCpuMsPerOp: children / ops,
    serverCores: (self + children) / Math.max(1, sum((block) => block.wallMs)),
    clientCpuMsPerOp: load.clientCpuMs / ops,
    rssAfterKiB: blocks.at(-1)?.rssAfterKiB ?? 0,
    logBytesPerOp: sum((block) => block.logBytes) / ops,
  }
}

/** One bounded run against one server, after `warmup` unmeasured requests. */
export async function measure(target: Target, meta: PhaseMeta, plan: LoadPlan, task: Task, warmup = 0): Promise<PhaseResult> {
  await warmUp(plan, task, warmup, meta.id)
  return phaseResult(meta, target, warmup, [await measureBlock(target, plan, task, warmup)])
}

/**
 * The same load against two servers in turns (A B, B A, A B, ...), `plan.count` requests per server split into
 * `blocks` blocks: whatever else the machine is doing meanwhile weighs on both alike, so their difference is fair.
 */
export async function measureInterleaved(
  targets: readonly [Target, Target],
  meta: PhaseMeta,
  plan: LoadPlan,
  blocks: number,
  taskFor: (target: Target) => Task,
  warmup = 0,
): Promise<[PhaseResult, PhaseResult]> {
  const tasks: [Task, Task] = [taskFor(targets[0]), taskFor(targets[1])]
  await warmUp(plan, tasks[0], warmup, meta.id)
  await warmUp(plan, tasks[1], warmup, meta.id)
  const blockPlan = { ...plan, count: Math.ceil(plan.count / blocks), maxMs: plan.maxMs / blocks }
  const measured: [Block[], Block[]] = [[], []]
  for (let b = 0; b < blocks; b++) {
    const order: readonly (0 | 1)[] = b % 2 === 0 ? [0, 1] : [1, 0]
    for (const i of order) measured[i].push(await measureBlock(targets[i], blockPlan, tasks[i], warmup + b * blockPlan.count))
  }
  return [phaseResult(meta, targets[0], warmup, measured[0]), phaseResult(meta, targets[1], warmup, measured[1])]
}
