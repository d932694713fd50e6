/**
 * replica/views: the age of a generation in whole seconds (never negative, null without a
 * time), a real header as the backups listing shows it, and a restored generation as a
 * spawn's answer shows it.
 */
import { strict as assert } from 'node:assert';
import { decodeReplica, encodeReplica, type HeaderInput } from '../../../src/replica/format';
import { makeKeyring, parseKey } from '../../../src/replica/keys';
import type { ReadResult } from '../../../src/replica/generations';
import { ageOf, backupView, restoredView } from '../../../src/replica/views';

const KEYS = makeKeyring(parseKey('33'.repeat(32), 'views key'));
const UUID = '5e1d2c3b-4a59-4687-9a0b-1c2d3e4f5a6b';
const T = '2026-12-05T10:00:00.000Z';
const FW = {
  loader: '/usr/share/OVMF/OVMF_CODE_4M.fd',
  nvram_template: '/usr/share/OVMF/OVMF_VARS_4M.fd',
  secure: false,
  requires_smm: false,
  stateless: false,
  enrolled_keys: false,
  source: 'map' as const,
  arch: 'x86_64',
  machine: 'q35',
};

function header(extra: Partial<HeaderInput> = {}) {
  const input: HeaderInput = { instance_uuid: UUID, generation: 4, reason: 'stop', firmware: FW, host: 'compute2', time: T, ...extra };
  const store = Buffer.alloc(8192, 0xff);
  const obj = encodeReplica(store, input, KEYS);
  return { ...decodeReplica(obj, KEYS, 'k', { instanceUuid: UUID, generation: input.generation }), objBytes: obj.length };
}

describe('replica/views', () => {
  describe('ageOf', () => {
    const now = Date.parse(T);
    it('is null without a time', () => assert.equal(ageOf(null, now), null));
    it('counts whole seconds, rounded', () => {
      assert.equal(ageOf(T, now), 0);
      assert.equal(ageOf(T, now + 90_000), 90);
      assert.equal(ageOf(T, now + 1_499), 1);
      assert.equal(ageOf(T, now + 1_500), 2);
    });
    it('is never negative for a time ahead of the clock (a skewed writer)', () => assert.equal(ageOf(T, now - 60_000), 0));
  });

  it('backupView shows the header fields, the stored size and the firmware the generation was written with', () => {
    const { header: h, objBytes } = header();
    const v = backupView(h, objBytes);
    assert.deepEqual(v, {
      generation: 4,
      sha256: h.sha256,
      size: 8192,
      time: T,
      host: 'compute2',
      reason: 'stop',
      key_id: KEYS.current.id,
      stored_bytes: objBytes,
      loader: '/usr/share/OVMF/OVMF_CODE_4M.fd',
      nvram_template: '/usr/share/OVMF/OVMF_VARS_4M.fd',
    });
    assert.match(v.sha256, /^[0-9a-f]{64}$/);
  });

  it('backupView shows null firmware paths for a generation written without a pinned firmware', () => {
    const { header: h } = header({ firmware: null });
    const v = backupView(h, 10);
    assert.equal(v.loader, null);
    assert.equal(v.nvram_template, null);
    assert.equal(v.stored_bytes, 10);
  });

  it('restoredView shows the recovery point: generation, time, age, writer, reason and the generations passed over', () => {
    const { header: h, store } = header({ generation: 6, reason: 'shelve', time: new Date(Date.now() - 120_000).toISOString() });
    const r: ReadResult = {
      entry: { generation: 6, reason: 'shelve', host: 'compute2', key: 'nvram/x/6' },
      header: h,
      store,
      storedBytes: 100,
      skipped: [{ generation: 7, error: 'tampered' }],
    };
    const v = restoredView(r);
    assert.equal(v.generation, 6);
    assert.equal(v.time, h.time);
    assert.ok(v.age_seconds >= 119 && v.age_seconds <= 125, String(v.age_seconds));
    assert.equal(v.host, 'compute2');
    assert.equal(v.reason, 'shelve');
    assert.deepEqual(v.skipped, [{ generation: 7, error: 'tampered' }]);
  });
});
