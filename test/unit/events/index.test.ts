/**
 * events (InstanceEvents): listeners run in subscription order, each awaited before the next
 * and before `announce` settles; a listener's failure is the announcement's failure and stops
 * the listeners after it; the announcing request's logger reaches every listener.
 */
import { strict as assert } from 'node:assert';
import { InstanceEvents, type InstanceEvent } from '../../../src/events';
import { memoryLogger } from '../../../src/util/log';

const UUID = '0b7a6c2e-1d3f-4e5a-8b9c-0d1e2f3a4b5c';
const tick = () => new Promise<void>((r) => setImmediate(r));

describe('events', () => {
  it('announces to nobody when nobody subscribed', async () => {
    const ev = new InstanceEvents();
    await ev.announce({ kind: 'left', uuid: UUID }, memoryLogger());
  });

  it('runs listeners in subscription order, each awaited before the next starts and before announce settles', async () => {
    const ev = new InstanceEvents();
    const seen: string[] = [];
    ev.subscribe(async (e) => {
      seen.push(`1 start ${e.kind}`);
      await tick();
      await tick();
      seen.push('1 end');
    });
    ev.subscribe((e) => {
      seen.push(`2 ${e.kind}`);
    });
    ev.subscribe(async () => {
      await tick();
      seen.push('3 end');
    });
    const p = ev.announce({ kind: 'rebuilt', uuid: UUID }, memoryLogger());
    assert.deepEqual(seen, ['1 start rebuilt'], 'the first listener started synchronously, the others wait for it');
    await p;
    assert.deepEqual(seen, ['1 start rebuilt', '1 end', '2 rebuilt', '3 end']);
  });

  it('hands every listener the same event and the announcing request logger', async () => {
    const ev = new InstanceEvents();
    const log = memoryLogger();
    const got: [InstanceEvent, unknown][] = [];
    ev.subscribe((e, l) => void got.push([e, l]));
    ev.subscribe((e, l) => void got.push([e, l]));
    const e: InstanceEvent = { kind: 'destroyed', uuid: UUID, why: 'delete', destroyDisks: true };
    await ev.announce(e, log);
    assert.equal(got.length, 2);
    for (const [seenE, seenL] of got) {
      assert.equal(seenE, e);
      assert.equal(seenL, log);
    }
  });

  it("a listener's failure fails the announcement and the listeners after it do not run", async () => {
    const ev = new InstanceEvents();
    const seen: number[] = [];
    ev.subscribe(() => void seen.push(1));
    ev.subscribe(async () => {
      await tick();
      throw new Error('replica store down');
    });
    ev.subscribe(() => void seen.push(3));
    await assert.rejects(ev.announce({ kind: 'store-changed', uuid: UUID, why: 'stop' }, memoryLogger()), /replica store down/);
    assert.deepEqual(seen, [1]);
  });

  it('each announcement reaches listeners subscribed before it, and a later subscriber only later ones', async () => {
    const ev = new InstanceEvents();
    const a: string[] = [];
    const b: string[] = [];
    ev.subscribe((e) => void a.push(e.kind));
    await ev.announce({ kind: 'left', uuid: UUID }, memoryLogger());
    ev.subscribe((e) => void b.push(e.kind));
    await ev.announce({ kind: 'resize-reverted', uuid: UUID }, memoryLogger());
    assert.deepEqual(a, ['left', 'resize-reverted']);
    assert.deepEqual(b, ['resize-reverted']);
  });
});
