import { execFileSync } from 'node:child_process'
import { chmodSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { inspect } from 'node:util'
import { join } from 'node:path'
import { expect } from 'chai'
import { generateIdentity, NodeIdentity } from '../../lib/identity/identity.js'
import {
  encodeIdentityFile, identityFileChecksum, loadIdentity, loadOrCreateIdentity, saveIdentity,
  type IdentityFileContent
} from '../../lib/identity/identity-file.js'
import { Key } from '../../lib/identity/key.js'
import { Ed25519Signer, verifySignature } from '../../lib/identity/sign.js'
import { expectRejectCode } from '../helpers/expect-code.js'
import { requireOrSkip } from '../helpers/require-tool.js'
import { useTempDir } from '../helpers/temp-dir.js'

const CODE = 'WIREMESH_ERR_IDENTITY_FILE'

/** Writes `text` as an identity file with mode 0600, bypassing `saveIdentity`. */
function writeRaw (path: string, text: string | Uint8Array): void {
  writeFileSync(path, text, { mode: 0o600 })
  chmodSync(path, 0o600)
}

/** File content with a correct checksum over whatever fields were given. */
function withChecksum (body: Omit<IdentityFileContent, 'checksum'>): string {
  return JSON.stringify({ ...body, checksum: identityFileChecksum(body) })
}

function bodyOf (id: NodeIdentity): Omit<IdentityFileContent, 'checksum'> {
  const { checksum: _, ...body } = JSON.parse(encodeIdentityFile(id)) as IdentityFileContent
  return body
}

function expectSameKeys (a: NodeIdentity, b: NodeIdentity): void {
  expect(a.equals(b)).to.equal(true)
  expect(b.wgPrivateKey()).to.deep.equal(a.wgPrivateKey())
  expect(b.signPrivateKey()).to.deep.equal(a.signPrivateKey())
  expect(b.wgPublicKey.equals(a.wgPublicKey)).to.equal(true)
  expect(b.signPublicKey.equals(a.signPublicKey)).to.equal(true)
}

describe('identity', () => {
  const dir = useTempDir()
  let id: NodeIdentity
  before(async () => { id = await generateIdentity() })
  const file = (): string => join(dir.path, 'identity.json')

  describe('generateIdentity', () => {
    it('makes distinct identities whose keys work', async () => {
      const other = await generateIdentity()
      expect(other.equals(id)).to.equal(false)
      expect(other.wgPublicKey.equals(id.wgPublicKey)).to.equal(false)
      const msg = new TextEncoder().encode('hello')
      expect(verifySignature(id.signPublicKey, msg, id.signer.sign(msg))).to.equal(true)
    })

    it('clamps the wireguard private key as `wg genkey` does', () => {
      const k = id.wgPrivateKey()
      expect(k[0] & 7).to.equal(0)
      expect(k[31] & 0xc0).to.equal(0x40)
      expect(id.wgPrivateKeyBase64()).to.match(/^[A-Za-z0-9+/]{43}=$/)
    })

    it('never prints private keys through toJSON or inspect', () => {
      const shown = JSON.stringify(id) + inspect(id) + inspect({ nested: id })
      expect(shown).to.include(id.wgPublicKey.toBase64())
      expect(shown).not.to.include(id.wgPrivateKeyBase64())
      expect(shown).not.to.include(id.signPrivateKeyBase64())
    })
  })

  describe('saveIdentity', () => {
    it('writes mode exactly 0600 whatever the umask', async () => {
      const old = process.umask(0o000)
      try {
        await saveIdentity(file(), id)
        expect(statSync(file()).mode & 0o777).to.equal(0o600)
        process.umask(0o277)
        await saveIdentity(file(), id)
        expect(statSync(file()).mode & 0o777).to.equal(0o600)
      } finally {
        process.umask(old)
      }
    })

    it('writes the documented json and leaves no temporary file', async () => {
      await saveIdentity(file(), id)
      const c = JSON.parse(readFileSync(file(), 'utf8')) as IdentityFileContent
      expect(Object.keys(c)).to.deep.equal(['version', 'wgPrivateKey', 'wgPublicKey', 'signPrivateKey', 'signPublicKey', 'checksum'])
      expect(c.version).to.equal(1)
      expect(c.wgPrivateKey).to.equal(id.wgPrivateKeyBase64())
      expect(c.wgPublicKey).to.equal(id.wgPublicKey.toBase64())
      expect(c.signPrivateKey).to.equal(id.signPrivateKeyBase64())
      expect(c.signPublicKey).to.equal(id.signPublicKey.toBase64())
      expect(c.checksum).to.match(/^[0-9a-f]{16}$/)
      expect(readdirSync(dir.path)).to.deep.equal(['identity.json'])
    })

    it('creates a missing state dir', async () => {
      const nested = join(dir.path, 'a', 'b', 'identity.json')
      await saveIdentity(nested, id)
      expectSameKeys(id, await loadIdentity(nested))
    })

    it('replaces an existing file atomically', async () => {
      const other = await generateIdentity()
      await saveIdentity(file(), id)
      await saveIdentity(file(), other)
      expectSameKeys(other, await loadIdentity(file()))
      expect(readdirSync(dir.path)).to.deep.equal(['identity.json'])
    })
  })

  describe('loadIdentity', () => {
    it('round-trips every key byte-exactly', async () => {
      await saveIdentity(file(), id)
      const back = await loadIdentity(file())
      expectSameKeys(id, back)
      expect(encodeIdentityFile(back)).to.equal(readFileSync(file(), 'utf8'))
    })

    it('round-trips keys built from raw bytes', async () => {
      const wg = new Uint8Array(32).fill(0x41)
      const seed = new Uint8Array(32).map((_, i) => i)
      const made = NodeIdentity.fromPrivateKeys(wg, seed)
      await saveIdentity(file(), made)
      const back = await loadIdentity(file())
      expect(back.wgPrivateKey()).to.deep.equal(wg)
      expect(back.signPrivateKey()).to.deep.equal(seed)
    })

    it('refuses a missing file', async () => {
      await expectRejectCode(loadIdentity(file()), CODE)
    })

    for (const mode of [0o644, 0o640, 0o604, 0o660, 0o620, 0o601]) {
      it(`refuses mode ${mode.toString(8).padStart(4, '0')}`, async () => {
        await saveIdentity(file(), id)
        chmodSync(file(), mode)
        await expectRejectCode(loadIdentity(file()), CODE)
      })
    }

    it('accepts mode 0400', async () => {
      await saveIdentity(file(), id)
      chmodSync(file(), 0o400)
      expectSameKeys(id, await loadIdentity(file()))
    })

    it('refuses a directory', async () => {
      await expectRejectCode(loadIdentity(dir.path), CODE)
    })

    it('refuses every single flipped bit (low and high) at every byte', async () => {
      const good = Buffer.from(encodeIdentityFile(id))
      for (const mask of [0x01, 0x80]) {
        for (let i = 0; i < good.length; i++) {
          const bad = Buffer.from(good)
          bad[i] ^= mask
          writeRaw(file(), bad)
          await expectRejectCode(loadIdentity(file()), CODE)
        }
      }
    })

    it('refuses every truncation that cuts into the json', async () => {
      const good = encodeIdentityFile(id)
      // The last byte is the trailing newline: dropping only it leaves a complete file.
      for (let n = 0; n < good.length - 1; n++) {
        writeRaw(file(), good.slice(0, n))
        await expectRejectCode(loadIdentity(file()), CODE)
      }
    })

    it('refuses a bad checksum', async () => {
      const c = JSON.parse(encodeIdentityFile(id)) as IdentityFileContent
      writeRaw(file(), JSON.stringify({ ...c, checksum: '0000000000000000' }))
      await expectRejectCode(loadIdentity(file()), CODE)
      const { checksum: _, ...noChecksum } = c
      writeRaw(file(), JSON.stringify(noChecksum))
      await expectRejectCode(loadIdentity(file()), CODE)
    })

    it('refuses other versions even with a matching checksum', async () => {
      for (const version of [0, 2, '1' as unknown as number]) {
        writeRaw(file(), withChecksum({ ...bodyOf(id), version }))
        await expectRejectCode(loadIdentity(file()), CODE)
      }
    })

    it('refuses bad json and non-objects', async () => {
      for (const text of ['', 'not json', '{', '[]', 'null', '"x"', '{"version":1}']) {
        writeRaw(file(), text)
        await expectRejectCode(loadIdentity(file()), CODE)
      }
    })

    it('refuses unknown fields and malformed keys', async () => {
      writeRaw(file(), JSON.stringify({ ...JSON.parse(encodeIdentityFile(id)), extra: 1 }))
      await expectRejectCode(loadIdentity(file()), CODE)
      writeRaw(file(), withChecksum({ ...bodyOf(id), wgPrivateKey: 'AAAA' }))
      await expectRejectCode(loadIdentity(file()), CODE)
    })

    it('refuses an oversized file', async () => {
      writeRaw(file(), encodeIdentityFile(id) + ' '.repeat(5000))
      await expectRejectCode(loadIdentity(file()), CODE)
    })

    it('refuses a wireguard public key that does not match its private key', async () => {
      const other = await generateIdentity()
      writeRaw(file(), withChecksum({ ...bodyOf(id), wgPublicKey: other.wgPublicKey.toBase64() }))
      await expectRejectCode(loadIdentity(file()), CODE)
    })

    it('refuses a signing public key that does not match its private key', async () => {
      const other = await generateIdentity()
      writeRaw(file(), withChecksum({ ...bodyOf(id), signPublicKey: other.signPublicKey.toBase64() }))
      await expectRejectCode(loadIdentity(file()), CODE)
    })
  })

  describe('loadOrCreateIdentity', () => {
    it('creates a 0600 identity when there is none, then keeps loading it', async () => {
      const made = await loadOrCreateIdentity(file())
      expect(statSync(file()).mode & 0o777).to.equal(0o600)
      expectSameKeys(made, await loadOrCreateIdentity(file()))
      expectSameKeys(made, await loadIdentity(file()))
    })

    it('gives concurrent callers the same identity', async () => {
      const all = await Promise.all(Array.from({ length: 8 }, async () => await loadOrCreateIdentity(file())))
      for (const x of all) expectSameKeys(all[0], x)
      expect(readdirSync(dir.path)).to.deep.equal(['identity.json'])
    })

    it('never replaces a corrupted or exposed file', async () => {
      writeRaw(file(), 'garbage')
      await expectRejectCode(loadOrCreateIdentity(file()), CODE)
      expect(readFileSync(file(), 'utf8')).to.equal('garbage')
      await saveIdentity(file(), id)
      chmodSync(file(), 0o644)
      await expectRejectCode(loadOrCreateIdentity(file()), CODE)
      chmodSync(file(), 0o600)
      expectSameKeys(id, await loadOrCreateIdentity(file()))
    })
  })

  describe('against wireguard-tools', () => {
    const reason = 'wireguard-tools cross-checks our x25519 keys'

    it('`wg pubkey` derives our public key from our private key', async function () {
      requireOrSkip(this, 'wg', reason)
      for (let i = 0; i < 4; i++) {
        const x = i === 0 ? id : await generateIdentity()
        const pub = execFileSync('wg', ['pubkey'], { input: x.wgPrivateKeyBase64() + '\n', encoding: 'utf8' }).trim()
        expect(pub).to.equal(x.wgPublicKey.toBase64())
      }
    })

    it('a `wg genkey` key survives save and load with the public key `wg pubkey` gives', async function () {
      requireOrSkip(this, 'wg', reason)
      const priv = execFileSync('wg', ['genkey'], { encoding: 'utf8' }).trim()
      const pub = execFileSync('wg', ['pubkey'], { input: priv + '\n', encoding: 'utf8' }).trim()
      const made = new NodeIdentity(Key.fromBase64(priv).bytes, await Ed25519Signer.generate())
      expect(made.wgPrivateKeyBase64()).to.equal(priv)
      expect(made.wgPublicKey.toBase64()).to.equal(pub)
      await saveIdentity(file(), made)
      const back = await loadIdentity(file())
      expect(back.wgPrivateKeyBase64()).to.equal(priv)
      expect(back.wgPublicKey.toBase64()).to.equal(pub)
    })
  })
})
