/**
 * The serial queue behind `FileStorage`: every call runs alone, in call order. Consecutive
 * batchable calls (appends) waiting at the head of the queue when it becomes free run
 * together, in order, through one `runBatch` (group commit: one write and one fsync for all
 * of them). A call aborted while it waits leaves the queue at once with an `AbortError`; once
 * it has started it runs to the end.
 */
import { AbortError } from '../errors.js'

interface Waiting {
  signal?: AbortSignal
  resolve: (v: unknown) => void
  reject: (e: unknown) => void
}
type Call<B> = Waiting & ({ kind: 'task', run: () => Promise<unknown> } | { kind: 'batch', item: B })

export class CallQueue<B> {
  private readonly calls: Array<Call<B>> = []
  private running = false
  /**
   * One abort listener per signal that waiting calls carry, with how many carry it: a Mesh
   * passes one long-lived signal to every call, and a listener per call would pile up.
   */
  private readonly watched = new Map<AbortSignal, { waiting: number, onAbort: () => void }>()

  /** `runBatch` gets the items of one group in call order; its result settles all of them. */
  constructor (private readonly runBatch: (items: B[]) => Promise<void>) {}

  /** Runs `run` alone once every earlier call is done. */
  async task<T> (run: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    return await new Promise<T>((resolve, reject) => {
      this.enqueue({ kind: 'task', run, signal, resolve: resolve as (v: unknown) => void, reject })
    })
  }

  /** Runs `item` in the next group, after every earlier call. */
  async batch (item: B, signal?: AbortSignal): Promise<void> {
    await new Promise((resolve, reject) => { this.enqueue({ kind: 'batch', item, signal, resolve, reject }) })
  }

  private enqueue (call: Call<B>): void {
    const signal = call.signal
    if (signal?.aborted === true) { call.reject(new AbortError(undefined, { cause: signal.reason })); return }
    this.calls.push(call)
    if (signal !== undefined) this.watch(signal)
    if (!this.running) void this.run()
  }

  private watch (signal: AbortSignal): void {
    const w = this.watched.get(signal)
    if (w !== undefined) { w.waiting++; return }
    const onAbort = (): void => {
      this.watched.delete(signal)
      const error = new AbortError(undefined, { cause: signal.reason })
      for (let i = this.calls.length - 1; i >= 0; i--) {
        const c = this.calls[i]
        if (c.signal === signal) { this.calls.splice(i, 1); c.reject(error) }
      }
    }
    this.watched.set(signal, { waiting: 1, onAbort })
    signal.addEventListener('abort', onAbort, { once: true })
  }

  /** The call starts: its signal no longer matters to it. */
  private start (call: Call<B>): void {
    const signal = call.signal
    const w = signal === undefined ? undefined : this.watched.get(signal)
    if (signal === undefined || w === undefined) return
    if (--w.waiting === 0) {
      this.watched.delete(signal)
      signal.removeEventListener('abort', w.onAbort)
    }
  }

  private async run (): Promise<void> {
    this.running = true
    try {
      while (this.calls.length > 0) {
        const head = this.calls[0]
        if (head.kind === 'task') {
          this.calls.shift()
          this.start(head)
          try { head.resolve(await head.run()) } catch (err) { head.reject(err) }
          continue
        }
        let k = 1
        while (k < this.calls.length && this.calls[k].kind === 'batch') k++
        const group = this.calls.splice(0, k) as Array<Waiting & { kind: 'batch', item: B }>
        for (const c of group) this.start(c)
        try {
          await this.runBatch(group.map(c => c.item))
          for (const c of group) c.resolve(undefined)
        } catch (err) {
          for (const c of group) c.reject(err)
        }
      }
    } finally {
      this.running = false
    }
  }
}
