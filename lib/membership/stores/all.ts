/** Registers every op store with `storeFactories`, so `new Replica(g, { store: 'yjs' })` works. */
import { storeFactories } from '../replica.js'
import { AutomergeOpStore } from './automerge.js'
import { YjsOpStore } from './yjs.js'

storeFactories.set('yjs', () => new YjsOpStore())
storeFactories.set('automerge', () => new AutomergeOpStore())
