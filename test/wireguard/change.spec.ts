/**
 * checkChange: every malformed batch, whatever its shape, is an InvalidConfigError (never a
 * TypeError), and a good one comes back canonical.
 */
import { expect } from 'chai'
import { Key } from '../../lib/identity/key.js'
import type { DeviceChange } from '../../lib/wireguard/backend.js'
import { checkChange } from '../../lib/wireguard/change.js'
import { expectCode } from '../helpers/expect-code.js'

const INVALID_CONFIG = 'WIREMESH_ERR_INVALID_CONFIG'
const k = Key.fromBytes(new Uint8Array(32).fill(7))

describe('wireguard/change', () => {
  it('returns a good batch in canonical form', () => {
    const out = checkChange({ upserts: [{ publicKey: k, allowedIps: ['fd00:0::1/128'], endpoint: { host: '2001:DB8::1', port: 1 } }] })
    expect(out.upserts![0].allowedIps).to.deep.equal(['fd00::1/128'])
    expect(out.upserts![0].endpoint).to.deep.equal({ host: '2001:db8::1', port: 1 })
    expect(out.removals).to.deep.equal([])
  })

  it('refuses a batch of the wrong shape with InvalidConfigError, not TypeError', () => {
    const bad: unknown[] = [
      null, undefined, 5, 'x', [],
      { upserts: 5 }, { upserts: {} }, { upserts: 'ab' }, { upserts: [null] }, { upserts: [5] }, { upserts: [{}] },
      { upserts: [{ publicKey: k, allowedIps: 'fd00::1/128' }] }, { upserts: [{ publicKey: k, allowedIps: [5] }] },
      { upserts: [{ publicKey: k, endpoint: null }] }, { upserts: [{ publicKey: k, endpoint: '192.0.2.1:1' }] }, { upserts: [{ publicKey: k, endpoint: { host: 5, port: 1 } }] },
      { removals: 5 }, { removals: {} }, { removals: [null] }, { removals: 'ab' }
    ]
    for (const c of bad) {
      expectCode(() => checkChange(c as DeviceChange), INVALID_CONFIG)
    }
  })
})
