/**
 * Configuration conventions. Every knob is an optional field of an `…Init` object with its
 * unit in its name (`…Ms`, `…Bytes`), a documented default, and a range; `resolve()` fills
 * the defaults once and throws `InvalidConfigError` naming the field and its range, so a bad
 * value fails at construction, never deep inside a running node.
 *
 *   const SPEC = { pendingQuota: { default: 4096, min: 1, max: 1_000_000, integer: true } }
 *   const cfg = resolve(SPEC, init)   // { pendingQuota: number }
 */
import { InvalidConfigError } from './errors.js'

export interface NumberSpec {
  default: number
  min: number
  max: number
  integer?: boolean
}

export type Spec = Record<string, NumberSpec>
export type Resolved<S extends Spec> = { [K in keyof S]: number }

export function resolve<S extends Spec> (spec: S, init: Partial<Record<keyof S, number | undefined>> = {}): Resolved<S> {
  const out = {} as Resolved<S>
  for (const key of Object.keys(spec) as Array<keyof S & string>) {
    const s = spec[key]
    const v = init[key] ?? s.default
    if (typeof v !== 'number' || Number.isNaN(v) || v < s.min || v > s.max || (s.integer === true && !Number.isInteger(v))) {
      throw new InvalidConfigError(`${key} must be ${s.integer === true ? 'an integer' : 'a number'} in [${s.min}, ${s.max}], got ${String(v)}`)
    }
    out[key] = v as Resolved<S>[typeof key]
  }
  return out
}
