/** The op stores every conformance test runs against. Importing this loads all of them. */
import '../../lib/membership/stores/all.js'
import type { OpStoreName } from '../../lib/membership/stores/store.js'

export const ALL_STORES: OpStoreName[] = (process.env.STORES?.split(',') as OpStoreName[] | undefined) ?? ['native', 'yjs', 'automerge']
