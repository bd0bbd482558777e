#!/usr/bin/env node
/**
 * The `wiremesh` command. For now it manages a node's identity; the mesh itself (start,
 * join, admin actions over gossip, the simulator) arrives with the gossip issue.
 *
 *   wiremesh identity [--state-dir DIR]   load or create DIR/identity.json (0600), print the public keys
 *   wiremesh sim [options]                run the simulator (lib/sim/cli.ts; `wiremesh sim --help`)
 *   wiremesh version
 */
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { readFileSync } from 'node:fs'
import { loadOrCreateIdentity } from '../identity/identity-file.js'
import { MeshError } from '../errors.js'

const USAGE = `usage:
  wiremesh identity [--state-dir DIR]   load or create DIR/identity.json (default DIR: ./.wiremesh)
  wiremesh sim [options]                simulate an org on virtual time (wiremesh sim --help)
  wiremesh version`

async function main (argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv
  switch (cmd) {
    case 'identity': {
      const { values } = parseArgs({ args: rest, options: { 'state-dir': { type: 'string', default: '.wiremesh' } } })
      const path = join(values['state-dir'], 'identity.json')
      const id = await loadOrCreateIdentity(path)
      console.log(`identity:       ${path}`)
      console.log(`wireguard key:  ${id.wgPublicKey.toBase64()}`)
      console.log(`signing key:    ${id.signPublicKey.toBase64()}`)
      return 0
    }
    case 'sim': {
      // Loaded only here: the simulator pulls in the whole mesh.
      const { simCommand, SIM_USAGE } = await import('../sim/cli.js')
      if (rest.includes('--help') || rest.includes('-h')) { console.log(SIM_USAGE); return 0 }
      return await simCommand(rest)
    }
    case 'version':
    case '--version': {
      // lib/cli/main.ts under tsx, dist/lib/cli/main.js once built
      for (const rel of ['../../package.json', '../../../package.json']) {
        try {
          const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string, version: string }
          if (pkg.name === 'wiremesh') { console.log(pkg.version); return 0 }
        } catch { /* try the next */ }
      }
      console.error('wiremesh: package.json not found')
      return 1
      return 0
    }
    default:
      console.error(cmd === undefined || cmd === 'help' || cmd === '--help' ? USAGE : `unknown command ${cmd}\n${USAGE}`)
      return cmd === undefined || cmd === 'help' || cmd === '--help' ? 0 : 2
  }
}

main(process.argv.slice(2)).then(code => { process.exitCode = code }, (err: unknown) => {
  if (err instanceof MeshError) { console.error(`wiremesh: ${err.message} (${err.code})`); process.exitCode = 1; return }
  throw err
})
