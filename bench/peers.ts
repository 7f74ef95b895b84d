// Owns the floors the server is judged against: a bare node:https server and a bare Fastify route, same certificates and TLS options.
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { freePort } from '../test/support/free-port'
import { sampleProcess } from './proc-stats'
import type { ServerProcess } from './server-process'

export type PeerKind = 'bare-https' | 'bare-fastify'

/**
 * Each peer reads the JSON body and answers 14 zero bytes ("no change"), on TLS with the server's certificate, its
 * cipher list and renegotiation refused, and (like the server) asking for a client certificate verified against the
 * gateway CA: the TLS work per poll is the same, everything the server adds on top is what the ratio shows. A peer
 * exits on SIGTERM, so a --cpu-prof of it (npm run bench:profile) gets written.
 */
const PEERS: Readonly<Record<PeerKind, string>> = {
  'bare-https': `
const https = require('node:https'); const fs = require('node:fs'); const { constants } = require('node:crypto')
const [port, certs, ciphers] = process.argv.slice(2)
const NO_CHANGE = Buffer.alloc(14)
https.createServer({
  cert: fs.readFileSync(certs + '/cups.crt'), key: fs.readFileSync(certs + '/cups.key'), ca: fs.readFileSync(certs + '/ca.crt'),
  requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2', ciphers, honorCipherOrder: true, secureOptions: constants.SSL_OP_NO_RENEGOTIATION,
}, (req, res) => {
  const chunks = []
  req.on('data', (c) => chunks.push(c))
  req.on('end', () => {
    JSON.parse(Buffer.concat(chunks).toString('utf8'))
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': 14 })
    res.end(NO_CHANGE)
  })
}).listen(Number(port), '127.0.0.1', () => process.send('ready'))
process.on('SIGTERM', () => process.exit(0))
`,
  'bare-fastify': `
const Fastify = require('fastify'); const fs = require('node:fs'); const { constants } = require('node:crypto')
const [port, certs, ciphers] = process.argv.slice(2)
const NO_CHANGE = Buffer.alloc(14)
const app = Fastify({ logger: false, https: {
  cert: fs.readFileSync(certs + '/cups.crt'), key: fs.readFileSync(certs + '/cups.key'), ca: fs.readFileSync(certs + '/ca.crt'),
  requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2', ciphers, honorCipherOrder: true, secureOptions: constants.SSL_OP_NO_RENEGOTIATION,
} })
app.post('/update-info', async (request, reply) => reply.type('application/octet-stream').send(NO_CHANGE))
app.listen({ port: Number(port), host: '127.0.0.1' }).then(() => process.send('ready'))
process.on('SIGTERM', () => process.exit(0))
`,
}

/** A peer as the phases measure it: a process with a port, sampled from /proc like the server. */
export async function startPeer(kind: PeerKind, options: { workDir: string; certPath: string; repoRoot: string; ciphers: string; nodeArgs?: readonly string[] }): Promise<ServerProcess> {
  const port = await freePort()
  const script = path.join(options.workDir, `${kind}.js`)
  await writeFile(script, PEERS[kind])
  const started = Date.now()
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), script, String(port), options.certPath, options.ciphers], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    env: { PATH: process.env.PATH ?? '', NODE_PATH: path.join(options.repoRoot, 'node_modules') },
  })
  const pid = child.pid
  if (pid === undefined) throw new Error(`could not start the ${kind} peer`)
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => {
      resolve()
    })
    child.once('exit', (code) => {
      reject(new Error(`the ${kind} peer exited with ${String(code)}`))
    })
  })
  return {
    pid,
    port,
    adminPort: 0,
    caPem: readFileSync(path.join(options.certPath, 'ca.crt')),
    dataDir: '',
    startMs: Date.now() - started,
    sample: () => sampleProcess(pid),
    stop: async () => {
      if (child.exitCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
    },
  }
}
