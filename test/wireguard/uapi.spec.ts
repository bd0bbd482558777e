import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { Key } from '../../lib/identity/key.js'
import { UapiBackend } from '../../lib/wireguard/uapi.js'
import { expectCode, expectRejectCode } from '../helpers/expect-code.js'

const WG = 'WIREMESH_ERR_WIREGUARD'

/**
 * A fake device: answers each request (text up to its blank line) with `reply(request, n)`,
 * `null` to stay silent. Counts connections, so the tests can see reconnects.
 */
async function fakeDevice (dir: string, reply: (req: string, n: number) => string | null): Promise<{ server: Server, path: string, connections: () => number, maxOutstanding: () => number, requests: string[] }> {
  const path = join(dir, 'wmfake0.sock')
  const requests: string[] = []
  let conns = 0
  let outstanding = 0
  let maxOutstanding = 0
  const server = createServer((s: Socket) => {
    conns++
    let buf = ''
    s.on('data', d => {
      buf += d.toString()
      let end
      while ((end = buf.indexOf('\n\n')) >= 0) {
        const req = buf.slice(0, end + 2)
        buf = buf.slice(end + 2)
        requests.push(req)
        const r = reply(req, requests.length)
        // Answered a little later, so a client that pipelined would be seen with two outstanding.
        outstanding++
        maxOutstanding = Math.max(maxOutstanding, outstanding)
        if (r !== null) setTimeout(() => { outstanding--; s.write(r) }, 3)
      }
    })
    s.on('error', () => {})
  })
  await new Promise<void>(resolve => server.listen(path, resolve))
  return { server, path, connections: () => conns, maxOutstanding: () => maxOutstanding, requests }
}

describe('wireguard/uapi client', () => {
  let dir: string
  let server: Server | undefined
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'wiremesh-uapi-')) })
  afterEach(async () => {
    if (server !== undefined) await new Promise(resolve => server!.close(resolve))
    server = undefined
    rmSync(dir, { recursive: true, force: true })
  })

  it('keeps one connection while requests succeed, and reconnects after an errno', async () => {
    const f = await fakeDevice(dir, (req, n) => req.startsWith('get') ? 'listen_port=7\nerrno=0\n\n' : n === 2 ? 'errno=-22\n\n' : 'errno=0\n\n')
    server = f.server
    const b = new UapiBackend('wmfake0', { socketPath: f.path })
    expect((await b.read()).listenPort).to.equal(7)
    const err = await expectRejectCode(b.apply({ listenPort: 1 }), WG) as unknown as { errno: number, op: string }
    expect([err.errno, err.op]).to.deep.equal([22, 'apply'])
    expect(f.connections()).to.equal(1)
    await b.apply({ listenPort: 2 })
    await b.read()
    expect(f.connections()).to.equal(2)
    expect(f.requests[2]).to.equal('set=1\nlisten_port=2\n\n')
    await b.close()
    await b.close()
    await expectRejectCode(b.read(), WG)
  })

  it('sends one request at a time, in call order', async () => {
    const f = await fakeDevice(dir, () => 'errno=0\n\n')
    server = f.server
    const b = new UapiBackend('wmfake0', { socketPath: f.path })
    const k = (n: number): Key => Key.fromBytes(new Uint8Array(32).fill(n))
    await Promise.all([1, 2, 3, 4].map(async n => await b.apply({ upserts: [{ publicKey: k(n) }] })))
    expect(f.requests.map(r => r.split('\n')[1].slice(-2))).to.deep.equal(['01', '02', '03', '04'])
    expect(f.maxOutstanding()).to.equal(1)
    await b.close()
  })

  it('times out a silent device, aborts on a signal, and refuses a malformed reply, reconnecting after each', async () => {
    let mode = 'silent'
    const f = await fakeDevice(dir, () => mode === 'silent' ? null : mode === 'bad' ? 'listen_port=x\nerrno=0\n\n' : 'errno=0\n\n')
    server = f.server
    const b = new UapiBackend('wmfake0', { socketPath: f.path, requestTimeoutMs: 100 })
    const t = await expectRejectCode(b.read(), WG) as unknown as { op: string }
    expect(t.op).to.equal('read')
    const ac = new AbortController()
    const p = b.read({ signal: ac.signal })
    setTimeout(() => ac.abort(), 20)
    await expectRejectCode(p, 'WIREMESH_ERR_ABORTED')
    mode = 'bad'
    const bad = await expectRejectCode(b.read(), WG)
    expect((bad.cause as { code?: string }).code).to.equal('WIREMESH_ERR_WIREGUARD_PROTOCOL')
    mode = 'ok'
    await b.read()
    expect(f.connections()).to.equal(4)
    await b.close()
  })

  it('an abort that lands while the connection completes, or while the request waits its turn, ends it at once', async () => {
    let silent = false
    const f = await fakeDevice(dir, () => silent ? null : 'errno=0\n\n')
    server = f.server
    const b = new UapiBackend('wmfake0', { socketPath: f.path, requestTimeoutMs: 2000 })
    // The abort fires just as the connect step lets go of the signal, before the request step holds it.
    const ac = new AbortController()
    const remove = ac.signal.removeEventListener.bind(ac.signal)
    ac.signal.removeEventListener = ((...args: Parameters<AbortSignal['removeEventListener']>) => { remove(...args); ac.abort() }) as AbortSignal['removeEventListener']
    await expectRejectCode(b.read({ signal: ac.signal }), 'WIREMESH_ERR_ABORTED')
    expect(f.requests).to.have.length(0)
    // Queued behind a request the device never answers: the abort does not wait for its turn.
    silent = true
    const first = expectRejectCode(b.read(), WG)
    const queued = new AbortController()
    const t0 = Date.now()
    const second = b.read({ signal: queued.signal })
    setTimeout(() => queued.abort(), 20)
    await expectRejectCode(second, 'WIREMESH_ERR_ABORTED')
    expect(Date.now() - t0).to.be.below(1000)
    await first
    expect(f.requests).to.have.length(1)
    silent = false
    await b.read()
    await b.close()
  })

  it('checks its knobs and the interface name', () => {
    expectCode(() => new UapiBackend('a/b'), 'WIREMESH_ERR_INVALID_CONFIG')
    expectCode(() => new UapiBackend('x'.repeat(16)), 'WIREMESH_ERR_INVALID_CONFIG')
    expectCode(() => new UapiBackend('wm0', { requestTimeoutMs: 0 }), 'WIREMESH_ERR_INVALID_CONFIG')
    expect(new UapiBackend('wm0').socketPath).to.equal('/var/run/wireguard/wm0.sock')
    expect(new UapiBackend('wm0', { socketDir: '/tmp/x' }).socketPath).to.equal('/tmp/x/wm0.sock')
  })
})
