/**
 * JOIN rate limiting (DESIGN §3 "JOIN"): JOIN is the one packet an unknown sender can make us
 * work for (mac1, then an X25519 and, with a cookie, a signature check), so each source
 * prefix gets a token bucket of `ratePerSec` tokens refilled continuously, holding at most
 * `ratePerSec` (one second's burst). Prefixes: /24 for IPv4, /64 for IPv6, the unit a single
 * host or NAT usually owns, so one flooder cannot starve joiners elsewhere.
 *
 * At most `maxPrefixes` buckets are tracked (LRU); a forgotten prefix starts full again,
 * which bounds memory at the price of letting a many-prefix flood through at the same rate
 * per prefix — what the cookie (no amplification) makes harmless.
 */
import type { Clock } from '../clock.js'
import { LruCache } from '../wire/lru.js'
import type { Endpoint } from './endpoint.js'
import { hostFamily } from './endpoint.js'

interface Bucket { tokens: number, atMs: number }

export class JoinLimiter {
  private readonly buckets: LruCache<Bucket>
  limited = 0

  constructor (private readonly clock: Clock, private readonly ratePerSec: number, maxPrefixes = 4096) {
    this.buckets = new LruCache(maxPrefixes)
  }

  /** Takes a token for `from`'s prefix: false (counted) when its bucket is empty. */
  admit (from: Endpoint): boolean {
    const key = sourcePrefix(from.host)
    const now = this.clock.monotonic()
    const b = this.buckets.get(key) ?? { tokens: this.ratePerSec, atMs: now }
    b.tokens = Math.min(this.ratePerSec, b.tokens + (now - b.atMs) * this.ratePerSec / 1000)
    b.atMs = now
    const ok = b.tokens >= 1
    if (ok) b.tokens -= 1
    else this.limited++
    this.buckets.set(key, b)
    return ok
  }
}

/** The /24 of an IPv4 address or the /64 of an IPv6 one, as text; a name is its own prefix. */
export function sourcePrefix (host: string): string {
  // An IPv4 client of a dual-stack socket arrives as ::ffff:a.b.c.d: its prefix is the IPv4 one.
  if (/^::ffff:[0-9.]+$/i.test(host)) host = host.slice(7)
  const family = hostFamily(host)
  if (family === 4) return host.slice(0, host.lastIndexOf('.'))
  if (family === 6) {
    const [head, tail] = host.split('::')
    const groups = head === '' ? [] : head.split(':')
    const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':')
    const full = tail === undefined ? groups : [...groups, ...Array(8 - groups.length - tailGroups.length).fill('0'), ...tailGroups]
    return full.slice(0, 4).map(g => parseInt(g, 16).toString(16)).join(':') + '::/64'
  }
  return host
}
