import { describe, expect, it } from 'vitest';
import { Lockstep } from '../../src/worker/model/lockstep.js';

/** Whether `promise` has settled once pending callbacks have run. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(() => (done = true));
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

describe('Lockstep', () => {
  it('lets a lone sequence through at once', async () => {
    const a = new Lockstep().member();
    expect(await settled(a.step())).toBe(true);
    expect(await settled(a.step())).toBe(true);
  });

  it('holds each member at a step until every member has its token', async () => {
    const lockstep = new Lockstep();
    const a = lockstep.member();
    const b = lockstep.member();
    const c = lockstep.member();
    // A member counts from its first step on: a is alone then, b joins and waits for a's next step.
    expect(await settled(a.step())).toBe(true);
    const b1 = b.step();
    expect(await settled(b1)).toBe(false);
    const a2 = a.step();
    expect(await settled(Promise.all([a2, b1]))).toBe(true);
    const a3 = a.step();
    const b2 = b.step();
    expect(await settled(Promise.all([a3, b2]))).toBe(true);
    // c's first token: from now on a and b wait for it too.
    const c1 = c.step();
    expect(await settled(c1)).toBe(false);
    const a4 = a.step();
    expect(await settled(a4)).toBe(false);
    const b3 = b.step();
    expect(await settled(Promise.all([a4, b3, c1]))).toBe(true);
  });

  it('releases the others when a member leaves, and ignores a second leave', async () => {
    const lockstep = new Lockstep();
    const a = lockstep.member();
    const b = lockstep.member();
    await a.step();
    const b1 = b.step();
    await a.step();
    await b1;
    const a2 = a.step();
    expect(await settled(a2)).toBe(false);
    b.leave();
    expect(await settled(a2)).toBe(true);
    b.leave();
    expect(await settled(a.step())).toBe(true);
  });

  it('does not count a member that never stepped, nor wait for one that left', async () => {
    const lockstep = new Lockstep();
    lockstep.member().leave();
    const a = lockstep.member();
    const b = lockstep.member();
    await a.step();
    b.leave();
    expect(await settled(b.step())).toBe(true);
    expect(await settled(a.step())).toBe(true);
  });
});
