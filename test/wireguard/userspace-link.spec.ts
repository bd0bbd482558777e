/**
 * UserspaceLink.destroy() with a stand-in child process (the real wireguard-go runs in
 * real.spec.ts): a process that outlives SIGKILL is a typed error after killTimeoutMs, not
 * a wait without end.
 */
import type { ChildProcess } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { expect } from 'chai'
import type { WireGuardError } from '../../lib/errors.js'
import { createUserspaceLink, UserspaceLink } from '../../lib/wireguard/userspace-link.js'
import { expectRejectCode } from '../helpers/expect-code.js'

/** A child that ignores every signal until `exit()`. */
class StuckChild extends EventEmitter {
  readonly pid = 424242
  exitCode: number | null = null
  signalCode: NodeJS.Signals | null = null
  readonly signals: string[] = []
  kill (sig: string): boolean { this.signals.push(sig); return true }
  exit (): void { this.signalCode = 'SIGKILL'; this.emit('exit', null, 'SIGKILL') }
}

describe('wireguard/userspace-link', () => {
  it('destroy(): a process that does not go after SIGKILL is a WireGuardError after killTimeoutMs; a later destroy() finishes', async () => {
    const child = new StuckChild()
    const link = new UserspaceLink('wmstuck0', undefined, '/nonexistent/wmstuck0.sock', child as unknown as ChildProcess, 'true', { stopTimeoutMs: 20, ipTimeoutMs: 5000, killTimeoutMs: 50 }, {})
    const t0 = Date.now()
    const outcome = await Promise.race([
      link.destroy().then(() => 'resolved', (err: unknown) => err),
      new Promise(resolve => setTimeout(() => resolve('still waiting'), 2000))
    ])
    expect(outcome).to.be.instanceOf(Error)
    const err = outcome as WireGuardError
    expect([err.code, err.op]).to.deep.equal(['WIREMESH_ERR_WIREGUARD', 'destroy'])
    expect(Date.now() - t0).to.be.below(1000)
    expect(child.signals).to.deep.equal(['SIGTERM', 'SIGKILL'])
    // It goes in the end: destroy() again waits for it and deletes the link.
    setTimeout(() => child.exit(), 10)
    await link.destroy()
    expect(link.running).to.equal(false)
  })

  it('checks killTimeoutMs against its range before starting anything', async () => {
    for (const killTimeoutMs of [0, 600_001, 1.5]) {
      await expectRejectCode(createUserspaceLink('wm0', { killTimeoutMs, wireguardGoPath: '/nonexistent/wireguard-go' }), 'WIREMESH_ERR_INVALID_CONFIG')
    }
  })
})
