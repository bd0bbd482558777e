/**
 * Error assertions by `code` (tests never assert message text): `expectCode(() => f(), CODE)`
 * for a throw, `await expectRejectCode(promise, CODE)` for a rejection. Both return the error
 * so a test can look further at it.
 */
import { expect } from 'chai'

export function expectCode (fn: () => unknown, code: string): Error {
  let thrown: unknown
  try {
    fn()
  } catch (err) {
    thrown = err
  }
  return check(thrown, code)
}

export async function expectRejectCode (p: Promise<unknown>, code: string): Promise<Error> {
  let thrown: unknown
  try {
    await p
  } catch (err) {
    thrown = err
  }
  return check(thrown, code)
}

function check (thrown: unknown, code: string): Error {
  expect(thrown, `expected an error with code ${code}, but nothing was thrown`).to.be.instanceOf(Error)
  expect((thrown as { code?: unknown }).code, `error: ${String(thrown)}`).to.equal(code)
  return thrown as Error
}
