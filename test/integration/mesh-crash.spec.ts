/**
 * A node killed with SIGKILL during heavy op traffic, 50 times: every restart loads its state
 * and no op it had acknowledged is lost. The child (mesh-crash-child.ts) is a real Mesh with
 * FileStorage, the root of its org, enrolling members as fast as it can; an `ack` is printed
 * only after `enroll()` resolved. (crash.spec.ts does the same for the storage alone, with
 * torn tails.)
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { expect } from 'chai'
import { withSeed } from '../helpers/seed.js'
import { useTempDir } from '../helpers/temp-dir.js'

const CHILD = fileURLToPath(new URL('./mesh-crash-child.ts', import.meta.url))
const KILLS = 50
/** After `ready`, how long the child enrolls before the kill: [20, 20 + TRAFFIC_MS). */
const TRAFFIC_MS = 300
const STUCK_MS = 20_000

interface Run { ready?: { incarnation: number, members: Set<string> }, acks: string[], stderr: string, signal: NodeJS.Signals | null }

describe('integration/mesh-crash', function () {
  this.timeout(300_000)
  const dir = useTempDir('wiremesh-mesh-crash-')
  let child: ChildProcess | undefined

  afterEach(() => {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    child = undefined
  })

  async function run (seed: number, delayMs: number): Promise<Run> {
    const r: Omit<Run, 'signal'> = { acks: [], stderr: '' }
    const c = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), CHILD, dir.path, String(seed)], { stdio: ['ignore', 'pipe', 'pipe'] })
    child = c
    const kill = (): void => { if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL') }
    const timers: NodeJS.Timeout[] = [setTimeout(kill, STUCK_MS)]
    let partial = ''
    c.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n')
      partial = lines.pop()!
      for (const line of lines) {
        const [what, a, b] = line.split(' ')
        if (what === 'ready') {
          r.ready = { incarnation: Number(a), members: new Set(b === undefined || b === '' ? [] : b.split(',')) }
          timers.push(setTimeout(kill, delayMs))
        } else if (what === 'ack') r.acks.push(a)
        else r.stderr += `unexpected stdout line: ${line}\n`
      }
    })
    c.stderr!.setEncoding('utf8').on('data', (chunk: string) => { r.stderr += chunk })
    const signal = await new Promise<NodeJS.Signals | null>((resolve, reject) => {
      c.once('error', reject)
      c.once('close', (_code, sig) => { resolve(sig) })
    })
    for (const t of timers) clearTimeout(t)
    child = undefined
    return { ...r, signal }
  }

  it(`loses no acknowledged op across ${KILLS} SIGKILLs of a node under op traffic`, async function () {
    await withSeed(this, async random => {
      const acked: string[] = []
      let incarnation = -1
      for (let k = 0; k < KILLS; k++) {
        const r = await run(random.int(2 ** 31), 20 + random.int(TRAFFIC_MS))
        const at = `kill ${k + 1} of ${KILLS}`
        expect(r.stderr, `${at}: child stderr`).to.equal('')
        expect(r.signal, `${at}: died by our SIGKILL`).to.equal('SIGKILL')
        expect(r.ready, `${at}: the node started and loaded its state`).to.not.equal(undefined)
        const missing = acked.filter(key => !r.ready!.members.has(key))
        expect(missing, `${at}: acknowledged enrolls missing after the restart`).to.deep.equal([])
        expect(r.ready!.incarnation, `${at}: incarnation rises at every start`).to.be.above(incarnation)
        incarnation = r.ready!.incarnation
        acked.push(...r.acks)
      }
      // The last run's acks, checked by one more start.
      const last = await run(0, 0)
      expect(acked.filter(key => !last.ready!.members.has(key))).to.deep.equal([])
      console.log(`      ${acked.length} enrolls acknowledged across ${KILLS} kills, none lost`)
      expect(acked.length).to.be.above(KILLS) // there was traffic to lose
    })
  })
})
