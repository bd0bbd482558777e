/**
 * Replay protection for opened packets (DESIGN §3 "Sealing"), per (sender, epoch).
 *
 * Window: WireGuard's (RFC 6479) sliding bitmap of REPLAY_WINDOW_BITS = 2048 bits in 64
 * blocks of 32. `top` is the highest counter accepted. A counter above `top` slides the window
 * (clearing the blocks it passes, at most all 64) and is accepted; one at most
 * WINDOW_SIZE = 2048 − 32 = 2016 below `top` is accepted once (its bit must be clear); older
 * ones are refused as replays. Out-of-order delivery within 2016 packets is tolerated.
 *
 * Epochs: each sender has one current epoch (the greatest seen, compared as bytes: clock ms
 * big-endian, then the random half). A packet from an older epoch is stale; a newer one
 * replaces the state and starts a fresh window. Independently of any state, an epoch whose
 * clock part is older than EPOCH_MAX_AGE_MS + maxSkewMs, or more than maxSkewMs in the
 * future, is stale: a forgotten sender cannot be replayed beyond that, and one far-future
 * epoch cannot lock a sender out.
 *
 * Call `check` before decrypting (a cheap early drop) and `commit` only after the tag has
 * verified: unauthenticated packets never move a window or an epoch.
 *
 * Memory: 256 bytes of bitmap per sender, at most `maxSenders` senders. When full, senders
 * whose epoch is stale by the clock go first (forgetting them is harmless); then the one whose
 * epoch changed least recently — its packets of the last 180 s could then be replayed once,
 * which only a table overflow (more live senders than `maxSenders`) allows.
 */
import { compareBytes } from '../util/bytes.js'
import { epochMs } from './header.js'

export const REPLAY_WINDOW_BITS = 2048
const BLOCK_BITS = 32
const BLOCKS = REPLAY_WINDOW_BITS / BLOCK_BITS
/** How far below the highest counter a packet is still accepted. */
export const WINDOW_SIZE = REPLAY_WINDOW_BITS - BLOCK_BITS
/** Epochs rotate every 120 s; one that began 180 s ago is over even with late packets. */
export const EPOCH_MAX_AGE_MS = 180_000
export const DEFAULT_MAX_SKEW_MS = 30_000
export const DEFAULT_MAX_SENDERS = 65_536

export type ReplayVerdict = 'ok' | 'replay' | 'stale-epoch'

export class ReplayWindow {
  private readonly blocks = new Uint32Array(BLOCKS)
  private top = -1

  reset (): void { this.blocks.fill(0); this.top = -1 }

  /** Whether `counter` would be accepted: above the top, or inside the window and unseen. */
  check (counter: number): boolean {
    if (counter > this.top) return true
    if (this.top - counter >= WINDOW_SIZE) return false
    return (this.blocks[Math.floor(counter / BLOCK_BITS) % BLOCKS] & (1 << (counter % BLOCK_BITS))) === 0
  }

  /** Marks `counter` seen; false (and no change) if `check` refuses it. */
  accept (counter: number): boolean {
    if (!this.check(counter)) return false
    if (counter > this.top) {
      const cur = this.top < 0 ? -1 : Math.floor(this.top / BLOCK_BITS)
      const n = Math.min(Math.floor(counter / BLOCK_BITS) - cur, BLOCKS)
      for (let i = 1; i <= n; i++) this.blocks[(cur + i) % BLOCKS] = 0
      this.top = counter
    }
    this.blocks[Math.floor(counter / BLOCK_BITS) % BLOCKS] |= 1 << (counter % BLOCK_BITS)
    return true
  }
}

interface SenderState { epoch: Uint8Array, window: ReplayWindow }

export interface ReplayGuardInit {
  /** How far a sender's clock may be from ours. Default 30 s. */
  maxSkewMs?: number
  /** Senders tracked at once. Default 65,536 (~17 MB at most). */
  maxSenders?: number
}

export class ReplayGuard {
  readonly maxSkewMs: number
  readonly maxSenders: number
  private readonly senders = new Map<string, SenderState>()

  constructor (init: ReplayGuardInit = {}) {
    this.maxSkewMs = init.maxSkewMs ?? DEFAULT_MAX_SKEW_MS
    this.maxSenders = init.maxSenders ?? DEFAULT_MAX_SENDERS
  }

  get size (): number { return this.senders.size }

  /** Whether an epoch is too old or too far ahead by the clock alone. */
  staleByClock (epoch: Uint8Array, nowMs: number): boolean {
    const ms = epochMs(epoch)
    return ms < nowMs - EPOCH_MAX_AGE_MS - this.maxSkewMs || ms > nowMs + this.maxSkewMs
  }

  /** The verdict for a packet, changing nothing. `sender` is `Key.mapKey`. */
  check (sender: string, epoch: Uint8Array, counter: number, nowMs: number): ReplayVerdict {
    if (this.staleByClock(epoch, nowMs)) return 'stale-epoch'
    const st = this.senders.get(sender)
    if (st === undefined) return 'ok'
    const cmp = compareBytes(epoch, st.epoch)
    if (cmp < 0) return 'stale-epoch'
    if (cmp > 0) return 'ok'
    return st.window.check(counter) ? 'ok' : 'replay'
  }

  /** `check`, then records the packet if it is 'ok'. Call only for authenticated packets. */
  commit (sender: string, epoch: Uint8Array, counter: number, nowMs: number): ReplayVerdict {
    const verdict = this.check(sender, epoch, counter, nowMs)
    if (verdict !== 'ok') return verdict
    let st = this.senders.get(sender)
    if (st === undefined) {
      this.makeRoom(nowMs)
      st = { epoch: epoch.slice(), window: new ReplayWindow() }
      this.senders.set(sender, st)
    } else if (compareBytes(epoch, st.epoch) !== 0) {
      st.epoch = epoch.slice()
      st.window.reset()
      // Re-insert: the eviction order is by last epoch change.
      this.senders.delete(sender)
      this.senders.set(sender, st)
    }
    st.window.accept(counter)
    return 'ok'
  }

  /** Forgets a sender (revoked, or removed from the view). */
  forget (sender: string): void { this.senders.delete(sender) }

  private makeRoom (nowMs: number): void {
    if (this.senders.size < this.maxSenders) return
    for (const [k, st] of this.senders) if (this.staleByClock(st.epoch, nowMs)) this.senders.delete(k)
    while (this.senders.size >= this.maxSenders) this.senders.delete(this.senders.keys().next().value as string)
  }
}
