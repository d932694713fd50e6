/**
 * replica/signedIndex: the index object is authenticated with a key derived from the replica
 * key; any edit, a foreign key, a wrong instance or a malformed body is refused.
 */
import { strict as assert } from 'node:assert';
import { ReplicaCorrupt, ReplicaKeyError } from '../../../src/replica/errors';
import { makeKeyring, parseKey } from '../../../src/replica/keys';
import { openIndex, sealIndex, type ReplicaIndex } from '../../../src/replica/signedIndex';

const K1 = parseKey('11'.repeat(32), 'k1');
const K2 = parseKey('22'.repeat(32), 'k2');
const UUID = '5b1c8a7e-7d4c-4c1e-9a0f-2f0a1b2c3d4e';
const index: ReplicaIndex = { v: 1, instance_uuid: UUID, generation: 7, time: '2026-12-05T12:00:00Z' };
const KEY = `p/${UUID}/index`;

/** Parse, edit and re-serialise a sealed object without re-signing it. */
function tamper(obj: Buffer, edit: (s: { index: Record<string, unknown>; key_id: string; mac: string }) => void): Buffer {
  const s = JSON.parse(obj.toString());
  edit(s);
  return Buffer.from(JSON.stringify(s));
}

const corrupt = (re: RegExp) => (e: unknown) => e instanceof ReplicaCorrupt && e.objectKey === KEY && re.test(e.reason);

describe('replica/signedIndex', () => {
  it('opens what it sealed, pin included', () => {
    const ring = makeKeyring(K1);
    assert.deepEqual(openIndex(sealIndex(index, ring), ring, KEY, UUID), index);
    const pinned: ReplicaIndex = { ...index, pin: { generation: 3, time: '2026-12-05T12:01:00Z', by: 'admin' } };
    assert.deepEqual(openIndex(sealIndex(pinned, ring), ring, KEY, UUID), pinned);
  });

  it('seals under the current key and names it', () => {
    const obj = JSON.parse(sealIndex(index, makeKeyring(K2, [K1])).toString());
    assert.equal(obj.key_id, K2.id);
    assert.match(obj.mac, /^[0-9a-f]{64}$/);
  });

  it('opens an index sealed under an old key after a rotation', () => {
    const before = sealIndex(index, makeKeyring(K1));
    assert.deepEqual(openIndex(before, makeKeyring(K2, [K1]), KEY, UUID), index);
  });

  it('refuses an index sealed under a key this host does not hold, naming the key id', () => {
    const obj = sealIndex(index, makeKeyring(K1));
    assert.throws(
      () => openIndex(obj, makeKeyring(K2), KEY, UUID),
      (e: unknown) => e instanceof ReplicaKeyError && (e.details as { key_id: string }).key_id === K1.id,
    );
  });

  const edits: Array<[string, (s: { index: Record<string, unknown>; key_id: string; mac: string }) => void]> = [
    ['a lowered generation', (s) => (s.index.generation = 6)],
    ['a raised generation', (s) => (s.index.generation = 8)],
    ['an added pin', (s) => (s.index.pin = { generation: 2, time: 't', by: 'x' })],
    ['an edited time', (s) => (s.index.time = '2030-01-01T00:00:00Z')],
    ['a flipped MAC digit', (s) => (s.mac = (s.mac[0] === '0' ? '1' : '0') + s.mac.slice(1))],
    ['a truncated MAC', (s) => (s.mac = s.mac.slice(0, 62))],
    ['a MAC that is not hex', (s) => (s.mac = 'zz'.repeat(32))],
  ];
  for (const [title, edit] of edits) {
    it(`refuses ${title} as forged or edited`, () => {
      const ring = makeKeyring(K1);
      assert.throws(() => openIndex(tamper(sealIndex(index, ring), edit), ring, KEY, UUID), corrupt(/does not verify/));
    });
  }

  it("refuses another instance's index put in this one's place", () => {
    const ring = makeKeyring(K1);
    const other = sealIndex({ ...index, instance_uuid: 'another' }, ring);
    assert.throws(() => openIndex(other, ring, KEY, UUID), corrupt(/names instance another/));
  });

  const malformed: Array<[string, Buffer, RegExp]> = [
    ['bytes that are not JSON', Buffer.from('{nope'), /not JSON/],
    ['JSON null', Buffer.from('null'), /malformed/],
    ['an object without index', Buffer.from('{"key_id":"x","mac":"00"}'), /malformed/],
    ['version 2', Buffer.from(JSON.stringify({ index: { ...index, v: 2 }, key_id: K1.id, mac: '00' })), /malformed/],
    ['a negative generation', Buffer.from(JSON.stringify({ index: { ...index, generation: -1 }, key_id: K1.id, mac: '00' })), /malformed/],
    ['a fractional generation', Buffer.from(JSON.stringify({ index: { ...index, generation: 1.5 }, key_id: K1.id, mac: '00' })), /malformed/],
    [
      'a pin at generation 0',
      Buffer.from(JSON.stringify({ index: { ...index, pin: { generation: 0, time: 't', by: 'b' } }, key_id: K1.id, mac: '00' })),
      /malformed/,
    ],
    ['a key_id that is not a string', Buffer.from(JSON.stringify({ index, key_id: 5, mac: '00' })), /malformed/],
  ];
  for (const [title, obj, re] of malformed) {
    it(`refuses ${title}`, () => assert.throws(() => openIndex(obj, makeKeyring(K1), KEY, UUID), corrupt(re)));
  }
});
