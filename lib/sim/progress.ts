/**
 * Progress of a long simulation (seeds × virtual time) on stderr: a bar redrawn in place,
 * at most every 100 ms, when the stream is a terminal; otherwise a plain line at each 10%,
 * so logs and CI output stay readable. Never on stdout, which carries the JSON.
 *
 * The estimate is wall time so far × (remaining / done). Wall time is read here, outside
 * the simulation, through an injectable `nowMs` (tests pass a fake one).
 */
export interface ProgressInit {
  /** Units of work in all (e.g. seeds × virtual ms). */
  total: number
  label?: string
  stream?: NodeJS.WritableStream & { isTTY?: boolean }
  /** Draw the redrawn bar (default: the stream is a TTY). */
  tty?: boolean
  nowMs?: () => number
  widthChars?: number
}

const REDRAW_MS = 100
const BAR_CHARS = 30

export class Progress {
  private readonly total: number
  private readonly label: string
  private readonly stream: NodeJS.WritableStream
  private readonly tty: boolean
  private readonly nowMs: () => number
  private readonly width: number
  private readonly startedAt: number
  private lastDrawAt = -Infinity
  private lastDecile = 0
  private doneUnits = 0
  private finished = false

  constructor (init: ProgressInit) {
    this.total = Math.max(1, init.total)
    this.label = init.label ?? 'sim'
    this.stream = init.stream ?? process.stderr
    this.tty = init.tty ?? ((this.stream as { isTTY?: boolean }).isTTY === true)
    this.nowMs = init.nowMs ?? (() => performance.now())
    this.width = init.widthChars ?? BAR_CHARS
    this.startedAt = this.nowMs()
  }

  /** Sets the units done so far (clamped to total); `note` is shown after the bar. */
  update (done: number, note = ''): void {
    if (this.finished) return
    this.doneUnits = Math.min(this.total, Math.max(this.doneUnits, done))
    const now = this.nowMs()
    if (this.tty) {
      if (now - this.lastDrawAt < REDRAW_MS) return
      this.lastDrawAt = now
      this.stream.write(`\r\x1b[K${this.line(now, note)}`)
      return
    }
    const decile = Math.floor(this.doneUnits / this.total * 10)
    if (decile > this.lastDecile && decile < 10) {
      this.lastDecile = decile
      this.stream.write(`${this.line(now, note)}\n`)
    }
  }

  /** Marks the work complete and ends the line. Idempotent. */
  finish (note = ''): void {
    if (this.finished) return
    this.doneUnits = this.total
    const line = this.line(this.nowMs(), note)
    this.finished = true
    this.stream.write(this.tty ? `\r\x1b[K${line}\n` : `${line}\n`)
  }

  private line (now: number, note: string): string {
    const frac = this.doneUnits / this.total
    const filled = Math.round(frac * this.width)
    const elapsedS = (now - this.startedAt) / 1000
    const eta = frac > 0 && frac < 1 ? `, eta ${fmtS(elapsedS * (1 - frac) / frac)}` : ''
    const bar = this.tty ? ` [${'#'.repeat(filled)}${'-'.repeat(this.width - filled)}]` : ''
    return `${this.label}${bar} ${Math.floor(frac * 100)}% ${fmtS(elapsedS)}${eta}${note === '' ? '' : ` · ${note}`}`
  }
}

function fmtS (s: number): string {
  return s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`
}
