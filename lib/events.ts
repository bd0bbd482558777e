/**
 * Typed events on the platform's `EventTarget` (as js-libp2p does): an interface maps event
 * names to `CustomEvent<Detail>`, and `addEventListener` / `emit` are checked against it.
 * Listeners run synchronously, in the order they were added, and must not block: queue slow
 * work and return.
 */
type Listener = Parameters<EventTarget['addEventListener']>[1]
type AddOptions = Parameters<EventTarget['addEventListener']>[2]
type RemoveOptions = Parameters<EventTarget['removeEventListener']>[2]

export class TypedEventTarget<Events extends { [K in keyof Events]: CustomEvent<any> }> extends EventTarget {
  override addEventListener<K extends keyof Events & string> (type: K, listener: ((evt: Events[K]) => void) | null, options?: AddOptions): void
  override addEventListener (type: string, listener: Listener, options?: AddOptions): void
  override addEventListener (type: string, listener: any, options?: AddOptions): void {
    super.addEventListener(type, listener, options)
  }

  override removeEventListener<K extends keyof Events & string> (type: K, listener: ((evt: Events[K]) => void) | null, options?: RemoveOptions): void
  override removeEventListener (type: string, listener: Listener, options?: RemoveOptions): void
  override removeEventListener (type: string, listener: any, options?: RemoveOptions): void {
    super.removeEventListener(type, listener, options)
  }

  /** Dispatches `new CustomEvent(type, { detail })`. */
  emit<K extends keyof Events & string> (type: K, detail: Events[K]['detail']): boolean {
    return this.dispatchEvent(new CustomEvent(type, { detail }))
  }
}
