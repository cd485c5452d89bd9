import { getEventListeners } from 'node:events';
import { AbortFanOut } from '../../src/inference/abortFanOut';

describe('AbortFanOut', () => {
  test('a thousand children of one signal add one listener to it, and all abort with its reason', () => {
    const fanOut = new AbortFanOut();
    const parent = new AbortController();
    const children = Array.from({ length: 1000 }, () => fanOut.child(parent.signal));
    expect(getEventListeners(parent.signal, 'abort')).toHaveLength(1);
    expect(children.some((c) => c.signal.aborted)).toBe(false);
    parent.abort(new Error('chunk cancelled'));
    for (const child of children) expect(child.signal.reason).toEqual(new Error('chunk cancelled'));
  });

  test('a finished request no longer follows; a child of an aborted signal starts aborted', () => {
    const fanOut = new AbortFanOut();
    const parent = new AbortController();
    const finished = fanOut.child(parent.signal);
    const running = fanOut.child(parent.signal);
    finished.done();
    parent.abort('stop');
    expect(finished.signal.aborted).toBe(false);
    expect(running.signal.aborted).toBe(true);
    expect(fanOut.child(parent.signal).signal.reason).toBe('stop');
  });

  test('separate parents stay separate', () => {
    const fanOut = new AbortFanOut();
    const [a, b] = [new AbortController(), new AbortController()];
    const [ofA, ofB] = [fanOut.child(a.signal), fanOut.child(b.signal)];
    a.abort();
    expect([ofA.signal.aborted, ofB.signal.aborted]).toEqual([true, false]);
  });
});
