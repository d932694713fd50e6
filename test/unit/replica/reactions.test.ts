/**
 * replica/reactions: which verb of the replica service each announcement becomes, with which
 * arguments, against a recording service (the scheduler's own behaviour is
 * test/unit/replica/scheduler.test.ts's). What a destroy does depends on why it was made, on
 * whether the disks went and on the fence; a failed delete does not fail Nova's delete, a failed
 * shelve generation fails the shelve.
 */
import { strict as assert } from 'node:assert';
import type { InstanceEvent } from '../../../src/events';
import { replicationListener } from '../../../src/replica/reactions';
import type { ReplicaService } from '../../../src/replica/scheduler';
import { memoryLogger } from '../../../src/util/log';

const UUID = '9c8b7a6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';

interface Fake {
  calls: unknown[][];
  fenced: boolean;
  deleteFails: boolean;
  writeFails: boolean;
  recordFails: boolean;
}

function fakeService(): { svc: ReplicaService; f: Fake } {
  const f: Fake = { calls: [], fenced: false, deleteFails: false, writeFails: false, recordFails: false };
  const svc = {
    backend: 'memory',
    enqueue: (...a: unknown[]) => void f.calls.push(['enqueue', ...a]),
    adopt: async (...a: unknown[]) => void f.calls.push(['adopt', ...a]),
    forget: async (...a: unknown[]) => void f.calls.push(['forget', ...a]),
    isFenced: (u: string) => (f.calls.push(['isFenced', u]), f.fenced),
    deleteAll: async (u: string) => {
      f.calls.push(['deleteAll', u]);
      if (f.deleteFails) throw new Error('store unreachable');
      return 7;
    },
    writeNow: async (...a: unknown[]) => {
      f.calls.push(['writeNow', ...a]);
      if (f.writeFails) throw new Error('read back mismatch');
      return { generation: 3, header: { sha256: 'ab'.repeat(32) } };
    },
    recordDestroy: async (u: string) => {
      f.calls.push(['recordDestroy', u]);
      if (f.recordFails) throw new Error('disk full');
      return { uuid: u, host: 'compute1', time: '2026-12-05T00:00:00.000Z', generation: 2 };
    },
  };
  return { svc: svc as unknown as ReplicaService, f };
}

describe('replica/reactions', () => {
  let f: Fake;
  let log: ReturnType<typeof memoryLogger>;
  let react: (e: InstanceEvent) => Promise<void>;
  beforeEach(() => {
    const s = fakeService();
    f = s.f;
    log = memoryLogger();
    const l = replicationListener(s.svc);
    react = async (e) => {
      await l(e, log);
    };
  });
  const lines = (level: string) => log.lines.filter((l) => l.level === level).map((l) => l.msg);

  it('a changed store queues a generation with its reason; only a restore is forced', async () => {
    for (const why of ['spawn', 'stop', 'edit', 'restore'] as const) await react({ kind: 'store-changed', uuid: UUID, why });
    assert.deepEqual(f.calls, [
      ['enqueue', UUID, 'spawn', {}],
      ['enqueue', UUID, 'stop', {}],
      ['enqueue', UUID, 'edit', {}],
      ['enqueue', UUID, 'restore', { force: true }],
    ]);
  });

  it('a rebuild queues a spawn generation', async () => {
    await react({ kind: 'rebuilt', uuid: UUID });
    assert.deepEqual(f.calls, [['enqueue', UUID, 'spawn']]);
  });

  it('leaving queues a move generation: forced, of the content given, for a cold migration; of the store as it is for a live one', async () => {
    const c = Buffer.from('final store');
    await react({ kind: 'leaving', uuid: UUID, how: 'cold', content: c });
    await react({ kind: 'leaving', uuid: UUID, how: 'live' });
    assert.deepEqual(f.calls, [
      ['enqueue', UUID, 'move', { content: c, force: true }],
      ['enqueue', UUID, 'move', {}],
    ]);
  });

  it('arrived adopts the replicas with the restored generation (null when absent) and how it came; a reverted resize adopts back as a move', async () => {
    const restored = { entry: { generation: 5 }, header: { sha256: 'cd'.repeat(32), time: '2026-12-05T01:00:00.000Z' } };
    await react({ kind: 'arrived', uuid: UUID, via: 'move' });
    await react({ kind: 'arrived', uuid: UUID, via: 'unshelve', restored });
    await react({ kind: 'arrived', uuid: UUID, via: 'evacuate', restored: null });
    await react({ kind: 'resize-reverted', uuid: UUID });
    assert.deepEqual(f.calls, [
      ['adopt', UUID, null, 'move'],
      ['adopt', UUID, restored, 'unshelve'],
      ['adopt', UUID, null, 'evacuate'],
      ['adopt', UUID, null, 'move'],
    ]);
  });

  it('shelving writes the shelve generation now and logs it; its failure fails the announcement', async () => {
    const c = Buffer.from('shelved');
    await react({ kind: 'shelving', uuid: UUID, content: c, firmware: null });
    assert.deepEqual(f.calls, [['writeNow', UUID, c, null, 'shelve']]);
    const line = log.lines.find((l) => l.msg === 'shelve generation written and read back');
    assert.equal(line?.generation, 3);
    assert.equal(line?.instance_uuid, UUID);
    f.writeFails = true;
    await assert.rejects(react({ kind: 'shelving', uuid: UUID, content: c, firmware: null }), /read back mismatch/);
  });

  it('left forgets the replica state', async () => {
    await react({ kind: 'left', uuid: UUID });
    assert.deepEqual(f.calls, [['forget', UUID]]);
  });

  describe('destroyed', () => {
    it('a delete removes every replica when this host is not fenced (deleteAll owns the state from there: no forget)', async () => {
      await react({ kind: 'destroyed', uuid: UUID, why: 'delete', destroyDisks: true });
      assert.deepEqual(f.calls, [
        ['isFenced', UUID],
        ['deleteAll', UUID],
      ]);
      assert.equal(log.lines.find((l) => l.msg === 'nvram replicas deleted')?.objects, 7);
    });

    it('a delete on a fenced host leaves the replicas (another host owns them) and forgets them here', async () => {
      f.fenced = true;
      await react({ kind: 'destroyed', uuid: UUID, why: 'delete', destroyDisks: true });
      assert.deepEqual(f.calls, [
        ['isFenced', UUID],
        ['forget', UUID],
      ]);
      assert.deepEqual(lines('warning'), ['delete: replicas left alone, another host owns them']);
    });

    it('a delete whose removal fails does not fail: it logs an error and keeps the state for the retry', async () => {
      f.deleteFails = true;
      await react({ kind: 'destroyed', uuid: UUID, why: 'delete', destroyDisks: true });
      assert.deepEqual(f.calls, [
        ['isFenced', UUID],
        ['deleteAll', UUID],
      ]);
      const e = log.lines.find((l) => l.level === 'error');
      assert.equal(e?.msg, 'nvram replicas could not be deleted yet; retried with back-off');
      assert.equal(e?.error, 'store unreachable');
      assert.equal(e?.backend, 'memory');
    });

    it("a rebuild's destroy keeps the replica state, with or without the disks", async () => {
      await react({ kind: 'destroyed', uuid: UUID, why: 'rebuild', destroyDisks: true });
      await react({ kind: 'destroyed', uuid: UUID, why: 'rebuild', destroyDisks: false });
      assert.deepEqual(f.calls, []);
    });

    it('an evacuated source forgets its state when the disks go, and logs where the instance lives now', async () => {
      await react({ kind: 'destroyed', uuid: UUID, why: 'evacuated-source', destroyDisks: true, nowOn: 'compute2' });
      assert.deepEqual(f.calls, [['forget', UUID]]);
      assert.equal(log.lines.find((l) => l.level === 'info')?.now_on, 'compute2');
    });

    it('a destroy keeping the disks forgets nothing', async () => {
      await react({ kind: 'destroyed', uuid: UUID, why: 'other', destroyDisks: false, untracked: true });
      await react({ kind: 'destroyed', uuid: UUID, why: 'shelve-offload', destroyDisks: false });
      assert.deepEqual(f.calls, []);
    });

    it('an untracked destroy of the disks records a tombstone, then forgets; a tracked one only forgets', async () => {
      await react({ kind: 'destroyed', uuid: UUID, why: 'other', destroyDisks: true, untracked: true });
      assert.deepEqual(f.calls, [
        ['recordDestroy', UUID],
        ['forget', UUID],
      ]);
      assert.equal(log.lines.find((l) => l.level === 'info')?.generation, 2);
      f.calls = [];
      await react({ kind: 'destroyed', uuid: UUID, why: 'other', destroyDisks: true });
      assert.deepEqual(f.calls, [['forget', UUID]]);
    });

    it('a tombstone that cannot be recorded is a warning, and the destroy still forgets the state', async () => {
      f.recordFails = true;
      await react({ kind: 'destroyed', uuid: UUID, why: 'other', destroyDisks: true, untracked: true });
      assert.deepEqual(f.calls, [
        ['recordDestroy', UUID],
        ['forget', UUID],
      ]);
      const w = log.lines.find((l) => l.level === 'warning');
      assert.equal(w?.msg, 'destroy without task state not recorded');
      assert.equal(w?.error, 'disk full');
    });
  });
});
