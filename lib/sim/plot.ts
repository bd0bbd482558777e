/**
 * The convergence plot as plain SVG text: x is gossip rounds since the change began, y the
 * fraction of the expected nodes that have observed it. Each change is a step curve (its
 * empirical CDF over nodes), coloured by kind. With more than `maxLines` changes (many
 * seeds) the curves become a band per kind: for each fraction f, the p50 and p99 over
 * changes of the rounds at which f of the nodes had it (a change that never got there
 * counts as never), with the p50 drawn as a line over the shaded p50–p99 area.
 *
 * Deterministic: no dependency, no clock, no random ids; every coordinate printed with a
 * fixed number of decimals, so the same input gives the same bytes.
 */
import { type ChangeKind, type ChangeReport, percentile, sortNumbers } from './metrics.js'

export interface PlotInit {
  title?: string
  widthPx?: number
  heightPx?: number
  /** Above this many changes, draw p50/p99 bands instead of one line per change. Default 12. */
  maxLines?: number
}

const COLORS: Record<ChangeKind, string> = { enroll: '#1f77b4', revoke: '#d62728', death: '#7f7f7f' }
const KINDS: ChangeKind[] = ['enroll', 'revoke', 'death']
const MARGIN = { left: 56, right: 16, top: 36, bottom: 44 }
/** Fraction levels of the band: 1%, 2%, … 100%. */
const LEVELS = 100

/** The plot of `changes` (delays in ms turned into rounds of `gossipIntervalMs`). */
export function convergencePlot (changes: readonly ChangeReport[], gossipIntervalMs: number, init: PlotInit = {}): string {
  const W = init.widthPx ?? 640
  const H = init.heightPx ?? 400
  const maxLines = init.maxLines ?? 12
  const pw = W - MARGIN.left - MARGIN.right
  const ph = H - MARGIN.top - MARGIN.bottom
  const curves = changes.map(c => ({ kind: c.kind, expected: c.expected, rounds: c.delaysMs.map(d => d / gossipIntervalMs) }))
  const xMax = niceCeil(Math.max(1, ...curves.flatMap(c => c.rounds)))
  const X = (r: number): string => fmt(MARGIN.left + Math.min(r, xMax) / xMax * pw)
  const Y = (f: number): string => fmt(MARGIN.top + (1 - f) * ph)

  const out: string[] = []
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`)
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`)
  out.push(`<text x="${fmt(W / 2)}" y="20" text-anchor="middle" font-size="14">${escapeXml(init.title ?? 'convergence')}</text>`)
  // Grid and axes.
  for (const f of [0, 0.25, 0.5, 0.75, 1]) {
    out.push(`<line x1="${X(0)}" y1="${Y(f)}" x2="${X(xMax)}" y2="${Y(f)}" stroke="#e0e0e0"/>`)
    out.push(`<text x="${fmt(MARGIN.left - 6)}" y="${fmt(Number(Y(f)) + 4)}" text-anchor="end">${Math.round(f * 100)}%</text>`)
  }
  const step = niceStep(xMax)
  for (let i = 0; i * step <= xMax + 1e-9; i++) {
    const r = i * step
    out.push(`<line x1="${X(r)}" y1="${Y(0)}" x2="${X(r)}" y2="${fmt(Number(Y(0)) + 4)}" stroke="#000000"/>`)
    out.push(`<text x="${X(r)}" y="${fmt(Number(Y(0)) + 16)}" text-anchor="middle">${fmtTick(r)}</text>`)
  }
  out.push(`<line x1="${X(0)}" y1="${Y(0)}" x2="${X(xMax)}" y2="${Y(0)}" stroke="#000000"/>`)
  out.push(`<line x1="${X(0)}" y1="${Y(0)}" x2="${X(0)}" y2="${Y(1)}" stroke="#000000"/>`)
  out.push(`<text x="${fmt(MARGIN.left + pw / 2)}" y="${H - 8}" text-anchor="middle">gossip rounds since the change (1 round = ${gossipIntervalMs} ms)</text>`)
  out.push(`<text x="14" y="${fmt(MARGIN.top + ph / 2)}" text-anchor="middle" transform="rotate(-90 14 ${fmt(MARGIN.top + ph / 2)})">nodes that have it</text>`)

  const present = KINDS.filter(k => curves.some(c => c.kind === k))
  if (curves.length <= maxLines) {
    for (const c of curves) {
      // The empirical CDF as a staircase: flat until each observation, then up one node.
      let d = `M${X(0)},${Y(0)}`
      c.rounds.forEach((r, i) => { d += ` H${X(r)} V${Y((i + 1) / Math.max(1, c.expected))}` })
      out.push(`<path d="${d}" fill="none" stroke="${COLORS[c.kind]}" stroke-width="1.5" stroke-opacity="0.8"/>`)
    }
  } else {
    for (const kind of present) {
      const of = curves.filter(c => c.kind === kind)
      const p50: string[] = []
      const p99: string[] = []
      for (let l = 1; l <= LEVELS; l++) {
        const f = l / LEVELS
        // Rounds at which each change first had fraction f of its nodes (Infinity: never).
        const at = sortNumbers(of.map(c => c.rounds[Math.ceil(f * c.expected) - 1] ?? (c.expected === 0 ? 0 : Infinity)))
        const a = percentile(at, 50)!
        const b = percentile(at, 99)!
        if (Number.isFinite(a)) p50.push(`${X(a)},${Y(f)}`)
        if (Number.isFinite(b)) p99.push(`${X(b)},${Y(f)}`)
      }
      const color = COLORS[kind]
      if (p50.length > 0 && p99.length > 0) out.push(`<polygon points="${[...p50, ...[...p99].reverse()].join(' ')}" fill="${color}" fill-opacity="0.2" stroke="none"/>`)
      if (p50.length > 0) out.push(`<polyline points="${p50.join(' ')}" fill="none" stroke="${color}" stroke-width="2"/>`)
      if (p99.length > 0) out.push(`<polyline points="${p99.join(' ')}" fill="none" stroke="${color}" stroke-width="1" stroke-dasharray="4 3"/>`)
    }
  }
  // Legend.
  present.forEach((kind, i) => {
    const y = MARGIN.top + 12 + i * 16
    const n = curves.filter(c => c.kind === kind).length
    const label = curves.length <= maxLines ? `${kind} (${n})` : `${kind}: p50 line, p99 dashed (${n} changes)`
    out.push(`<line x1="${fmt(W - MARGIN.right - 190)}" y1="${y}" x2="${fmt(W - MARGIN.right - 170)}" y2="${y}" stroke="${COLORS[kind]}" stroke-width="2"/>`)
    out.push(`<text x="${fmt(W - MARGIN.right - 164)}" y="${y + 4}">${escapeXml(label)}</text>`)
  })
  out.push('</svg>')
  return out.join('\n') + '\n'
}

function fmt (x: number): string {
  const s = x.toFixed(2)
  return s === '-0.00' ? '0.00' : s
}

function fmtTick (x: number): string { return Number(x.toFixed(6)).toString() }

/** The smallest 1, 2 or 5 × 10^k at or above x. */
function niceCeil (x: number): number {
  const e = 10 ** Math.floor(Math.log10(x))
  for (const m of [1, 2, 5, 10]) if (m * e >= x - 1e-12) return m * e
  return 10 * e
}

/** A tick step giving 4–10 ticks on [0, max]. */
function niceStep (max: number): number {
  const raw = max / 5
  const e = 10 ** Math.floor(Math.log10(raw))
  for (const m of [1, 2, 5, 10]) if (m * e >= raw - 1e-12) return m * e
  return 10 * e
}

function escapeXml (s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}
