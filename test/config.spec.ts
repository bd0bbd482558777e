import { expect } from 'chai'
import { resolve } from '../lib/config.js'
import { TypedEventTarget } from '../lib/events.js'
import { Replica } from '../lib/membership/replica.js'
import { expectCode } from './helpers/expect-code.js'
import { enrollInit, newNode, newOrg } from './helpers/org.js'

describe('config and events', () => {
  const SPEC = { intervalMs: { default: 200, min: 10, max: 10_000, integer: true } }

  it('fills defaults and keeps given values', () => {
    expect(resolve(SPEC, {})).to.deep.equal({ intervalMs: 200 })
    expect(resolve(SPEC, { intervalMs: 50 })).to.deep.equal({ intervalMs: 50 })
  })

  it('refuses out-of-range, fractional and NaN values with InvalidConfigError', () => {
    for (const v of [5, 10_001, 20.5, Number.NaN]) expectCode(() => resolve(SPEC, { intervalMs: v }), 'WIREMESH_ERR_INVALID_CONFIG')
  })

  it('a replica checks its knobs at construction', async () => {
    const org = await newOrg()
    expectCode(() => new Replica(org.genesis, { pendingQuota: 0 }), 'WIREMESH_ERR_INVALID_CONFIG')
    expectCode(() => new Replica(org.genesis, { maxClockSkewMs: -1 }), 'WIREMESH_ERR_INVALID_CONFIG')
  })

  it('typed events deliver their detail to listeners in order', () => {
    const t = new TypedEventTarget<{ ping: CustomEvent<{ n: number }> }>()
    const seen: string[] = []
    t.addEventListener('ping', e => seen.push(`a${e.detail.n}`))
    t.addEventListener('ping', e => seen.push(`b${e.detail.n}`))
    t.emit('ping', { n: 1 })
    expect(seen).to.deep.equal(['a1', 'b1'])
  })

  it('a replica announces accepted ops, local and merged', async () => {
    const org = await newOrg()
    const other = new Replica(org.genesis)
    const events: Array<{ added: number, source: string, ids: string[] }> = []
    other.addEventListener('ops:added', e => events.push({ added: e.detail.added, source: e.detail.source, ids: e.detail.ops.map(o => Buffer.from(o.id).toString('hex')) }))
    const n = await newNode()
    const op = org.admin.enroll(enrollInit(n, org))
    await other.merge(org.replica.diff(other.digest()), 'peer-1')
    await other.merge(org.replica.diff(other.digest()), 'peer-1')
    expect(events).to.deep.equal([{ added: 1, source: 'peer-1', ids: [Buffer.from(op.id).toString('hex')] }])
  })
})
