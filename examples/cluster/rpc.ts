/**
 * The control channel between a cluster script and its node processes: requests over Node's
 * IPC channel (`child_process.fork`), each with an id, answered by exactly one reply with
 * the same id. Used by the demo and the loopback integration test.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export type Request =
  | { op: 'identity', stateDir: string }
  | { op: 'start', listen: string, invite?: string, org?: string, preset?: string, store?: string }
  | { op: 'prove', orgId: string }
  | { op: 'invite', wgPublicKey: string, signPublicKey: string, pop: string, name: string }
  | { op: 'revoke', wgPublicKey: string }
  | { op: 'view' }
  | { op: 'stop' }

export interface View {
  /** Member names in this node's view, sorted. */
  members: string[]
  fingerprint: string
  alive: number
  suspect: number
  dead: number
  drops: Record<string, number>
  /** Packets handled by the gossip engine (every type). */
  received: number
  /** Packets the UDP transport delivered: each is either handled or dropped. */
  packetsIn: number
}

export type Reply =
  | { ok: true, wgPublicKey?: string, signPublicKey?: string, pop?: string, orgId?: string, endpoint?: string, token?: string, view?: View }
  | { ok: false, error: string, code?: string }

const NODE_SCRIPT = fileURLToPath(new URL('./node.ts', import.meta.url))

/** A node process and a promise-returning call into it. */
export class NodeProcess {
  readonly child: ChildProcess
  private next = 0
  private readonly waiting = new Map<number, { resolve: (r: Reply) => void, reject: (e: Error) => void }>()
  private exited = false

  constructor (readonly name: string) {
    // tsx's loader, so the node script runs as TypeScript like the script that forks it.
    this.child = fork(NODE_SCRIPT, [name], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    this.child.on('message', (m: { id: number, reply: Reply }) => {
      const w = this.waiting.get(m.id)
      this.waiting.delete(m.id)
      w?.resolve(m.reply)
    })
    this.child.on('exit', (code, signal) => {
      this.exited = true
      for (const w of this.waiting.values()) w.reject(new Error(`node ${name} exited (${signal ?? code}) before replying`))
      this.waiting.clear()
    })
  }

  get pid (): number | undefined { return this.child.pid }

  /** Sends a request; rejects on an error reply, a dead process or `timeoutMs`. */
  async call (req: Request, timeoutMs = 20_000): Promise<Reply & { ok: true }> {
    if (this.exited) throw new Error(`node ${this.name} has exited`)
    const id = ++this.next
    const reply = await new Promise<Reply>((resolve, reject) => {
      const t = setTimeout(() => { this.waiting.delete(id); reject(new Error(`node ${this.name}: ${req.op} timed out after ${timeoutMs} ms`)) }, timeoutMs)
      this.waiting.set(id, { resolve: r => { clearTimeout(t); resolve(r) }, reject: e => { clearTimeout(t); reject(e) } })
      this.child.send({ id, req })
    })
    if (!reply.ok) throw new Error(`node ${this.name}: ${req.op} failed: ${reply.error}${reply.code !== undefined ? ` (${reply.code})` : ''}`)
    return reply
  }

  /** Asks the node to stop, then waits for the exit; SIGKILL (by PID) after `graceMs`. */
  async stop (graceMs = 5_000): Promise<void> {
    if (this.exited) return
    const exited = new Promise<void>(resolve => this.child.once('exit', () => resolve()))
    this.call({ op: 'stop' }, graceMs).catch(() => {})
    const t = setTimeout(() => { if (!this.exited) this.child.kill('SIGKILL') }, graceMs)
    await exited
    clearTimeout(t)
  }
}
