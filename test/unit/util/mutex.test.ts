import { strict as assert } from 'node:assert';
import { KeyedMutex } from '../../../src/util/mutex';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('util/mutex KeyedMutex', () => {
  it('never interleaves calls with the same key, in arrival order', async () => {
    const m = new KeyedMutex();
    const events: string[] = [];
    await Promise.all(
      [0, 1, 2, 3].map((i) =>
        m.run('a', async () => {
          events.push(`start${i}`);
          await tick(5);
          events.push(`end${i}`);
        }),
      ),
    );
    assert.deepEqual(events, ['start0', 'end0', 'start1', 'end1', 'start2', 'end2', 'start3', 'end3']);
    assert.deepEqual(m.busyKeys(), []);
  });
  it('runs different keys in parallel', async () => {
    const m = new KeyedMutex();
    let active = 0;
    let peak = 0;
    await Promise.all(
      ['a', 'b', 'c'].map((k) =>
        m.run(k, async () => {
          peak = Math.max(peak, ++active);
          await tick(10);
          active--;
        }),
      ),
    );
    assert.equal(peak, 3);
  });
  it('starts a call on an idle key at once, and queues one behind a busy key', async () => {
    const m = new KeyedMutex();
    const events: string[] = [];
    let finishFirst!: () => void;
    const first = m.run('a', () => {
      events.push('first');
      return new Promise<void>((r) => (finishFirst = r));
    });
    assert.deepEqual(events, ['first'], 'an idle key runs fn before run() returns');
    const second = m.run('a', async () => {
      events.push('second');
    });
    await tick(5);
    assert.deepEqual(events, ['first'], 'the second call waits for the first');
    assert.deepEqual(m.busyKeys(), ['a']);
    finishFirst();
    await Promise.all([first, second]);
    assert.deepEqual(events, ['first', 'second']);
    assert.deepEqual(m.busyKeys(), []);
  });
  it('queues a call made from inside a running call on the same key behind it', async () => {
    const m = new KeyedMutex();
    const events: string[] = [];
    let inner: Promise<void> | undefined;
    await m.run('a', () => {
      inner = m.run('a', async () => {
        events.push('inner');
      });
      events.push('outer');
      return Promise.resolve();
    });
    await inner;
    assert.deepEqual(events, ['outer', 'inner']);
  });
  it('releases the key when fn throws synchronously', async () => {
    const m = new KeyedMutex();
    await assert.rejects(
      m.run('a', () => {
        throw new Error('sync boom');
      }),
      /sync boom/,
    );
    assert.deepEqual(m.busyKeys(), []);
    assert.equal(await m.run('a', async () => 8), 8);
  });
  it('releases the key when the call throws', async () => {
    const m = new KeyedMutex();
    await assert.rejects(
      m.run('a', async () => {
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.equal(await m.run('a', async () => 7), 7);
  });
  it("reports each call's wait for its key: zero on an idle key, the queue time behind a busy one", async () => {
    const waits: number[] = [];
    const m = new KeyedMutex({ observe: (s) => waits.push(s) });
    let release!: () => void;
    const first = m.run('a', () => new Promise<void>((r) => (release = r)));
    const second = m.run('a', async () => undefined);
    await new Promise((r) => setTimeout(r, 30));
    release();
    await Promise.all([first, second]);
    await m.run('b', async () => undefined);
    assert.equal(waits.length, 3);
    assert.equal(waits[0], 0);
    assert.ok(waits[1] >= 0.02, `queued wait ${waits[1]} s`);
    assert.equal(waits[2], 0);
  });
  it('idle() resolves once no key is held or queued', async () => {
    const m = new KeyedMutex();
    await m.idle();
    let release!: () => void;
    const held = m.run('a', () => new Promise<void>((r) => (release = r)));
    const queued = m.run('a', async () => undefined);
    let idle = false;
    const waiting = m.idle().then(() => (idle = true));
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(idle, false);
    release();
    await Promise.all([held, queued, waiting]);
    assert.equal(idle, true);
    assert.deepEqual(m.busyKeys(), []);
  });
});
