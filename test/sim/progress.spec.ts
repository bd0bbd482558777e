import { expect } from 'chai'
import { Progress } from '../../lib/sim/progress.js'

function sink (): { stream: NodeJS.WritableStream, out: () => string } {
  let text = ''
  return { stream: { write: (s: string) => { text += s; return true } } as unknown as NodeJS.WritableStream, out: () => text }
}

describe('sim/progress', () => {
  it('not a TTY: one plain line per 10%, then the final line', () => {
    const { stream, out } = sink()
    let now = 0
    const p = new Progress({ total: 1000, label: 'sim', stream, tty: false, nowMs: () => now })
    for (let done = 0; done <= 1000; done += 7) { now += 10; p.update(done) }
    p.finish('2 seeds')
    p.finish()
    const lines = out().trimEnd().split('\n')
    expect(lines).to.have.length(10) // 10% … 90%, then 100%
    expect(lines[0]).to.match(/^sim 10% \d+\.\d s, eta \d+\.\d s$/)
    expect(lines.at(-1)).to.match(/^sim 100% .* · 2 seeds$/)
    expect(out()).to.not.include('\r')
  })

  it('a TTY: a bar redrawn in place at most every 100 ms', () => {
    const { stream, out } = sink()
    let now = 0
    const p = new Progress({ total: 100, stream, tty: true, nowMs: () => now, widthChars: 10 })
    for (let done = 1; done <= 50; done++) { now += 20; p.update(done, 'seed 1/2') }
    p.finish()
    const draws = out().split('\r').filter(s => s !== '')
    expect(draws.length).to.be.within(9, 12) // 50 updates over 1 s of wall time
    expect(draws[0]).to.match(/^\x1b\[K\w+ \[#?-+\] \d+% /)
    expect(draws.at(-1)).to.equal('\x1b[Ksim [##########] 100% 1.0 s\n')
  })
})
