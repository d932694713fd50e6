import { strict as assert } from 'node:assert';
import { createHash, randomBytes } from 'node:crypto';
import { decodeReplica, encodeReplica, keyedDigest, MAGIC, readHeader, ReplicaPacker, sealReplica, type HeaderInput } from '../../../src/replica/format';
import { keyId, makeKeyring, parseKey } from '../../../src/replica/keys';
import { ReplicaCorrupt, ReplicaKeyError } from '../../../src/replica/errors';

const K1 = parseKey('11'.repeat(32), 'k1');
const K2 = parseKey('22'.repeat(32), 'k2');
const UUID = '3f0c4c1e-8f4a-4bde-9a58-1a2b3c4d5e6f';
const input: HeaderInput = {
  instance_uuid: UUID,
  generation: 7,
  reason: 'stop',
  firmware: {
    loader: '/fw/OVMF_CODE.fd',
    nvram_template: '/fw/OVMF_VARS.fd',
    secure: false,
    requires_smm: false,
    stateless: false,
    enrolled_keys: false,
    source: 'map',
    arch: 'x86_64',
    machine: 'q35',
  },
  host: 'compute1',
  time: '2026-08-01T00:00:00.000Z',
};

/** A store like OVMF's: mostly 0xFF, a secret in the middle. */
function store(): Buffer {
  const b = Buffer.alloc(540672, 0xff);
  b.write('iSCSI-CHAP-secret-hunter2', 0x2000, 'utf16le');
  return b;
}

describe('replica/format', () => {
  it('round-trips a store and carries the header fields the issue names', () => {
    const s = store();
    const obj = encodeReplica(s, input, makeKeyring(K1));
    const { header, store: back } = decodeReplica(obj, makeKeyring(K1), 'k', { instanceUuid: UUID, generation: 7 });
    assert.ok(back.equals(s));
    assert.equal(header.key_id, K1.id);
    assert.equal(header.size, s.length);
    assert.match(header.sha256, /^[0-9a-f]{64}$/);
    assert.equal(header.firmware?.loader, '/fw/OVMF_CODE.fd');
    assert.equal(header.firmware?.nvram_template, '/fw/OVMF_VARS.fd');
    assert.equal(header.host, 'compute1');
    assert.equal(header.generation, 7);
    assert.equal(Buffer.from(header.iv, 'base64').length, 12);
  });

  it("packs a store piece by piece (one reused buffer) into an object that decodes as encodeReplica's does", async () => {
    // Pieces of uneven sizes through one buffer the reader reuses as soon as each update resolved.
    const s = Buffer.concat([store(), Buffer.alloc(3 * 1024 * 1024 + 17), store()]);
    const packer = new ReplicaPacker(makeKeyring(K1), s.length);
    const reused = Buffer.alloc(1024 * 1024);
    for (let at = 0, n = 1; at < s.length; at += n, n = n === 1 ? 70_001 : n * 2) {
      const piece = reused.subarray(0, Math.min(n, s.length - at, reused.length));
      s.copy(piece, 0, at, at + piece.length);
      await packer.update(piece);
      reused.fill(0xa5); // the reader's next read would overwrite it
      n = piece.length;
    }
    const packed = await packer.finish();
    assert.deepEqual([packed.size, packed.digest, packed.keyId], [s.length, keyedDigest(K1.key, s), K1.id]);
    assert.ok(packed.packed.length < s.length / 100, `compressed: ${packed.packed.length} bytes`);
    const obj = sealReplica(packed, input, makeKeyring(K1));
    const { header, store: back } = decodeReplica(obj, makeKeyring(K1), 'k', { instanceUuid: UUID, generation: 7 });
    assert.ok(back.equals(s));
    assert.equal(header.digest, readHeader(encodeReplica(s, input, makeKeyring(K1)), 'k').header.digest);
    assert.equal(header.sha256, createHash('sha256').update(s).digest('hex'));
  });

  it('seals a packed store only under the key it was digested with; an aborted packer takes no more pieces', async () => {
    const packer = new ReplicaPacker(makeKeyring(K1));
    await packer.update(store());
    const packed = await packer.finish();
    assert.throws(() => sealReplica(packed, input, makeKeyring(K2, [K1])), /packed under key .* cannot be sealed under key/);
    const aborted = new ReplicaPacker(makeKeyring(K1));
    aborted.abort();
    await assert.rejects(aborted.update(store()), /aborted/);
  });

  it('holds no plaintext: neither the secret nor the 0xFF runs of the store appear in the object', () => {
    const obj = encodeReplica(store(), input, makeKeyring(K1));
    assert.equal(obj.indexOf(Buffer.from('hunter2', 'utf16le')), -1);
    assert.equal(obj.indexOf(Buffer.alloc(64, 0xff)), -1);
    assert.ok(obj.length < 10_000, `compressed before encryption: ${obj.length} bytes`);
  });

  it('carries no plaintext digest of the store: only a keyed one, which another key does not reproduce', () => {
    const s = store();
    const obj = encodeReplica(s, input, makeKeyring(K1));
    const plain = createHash('sha256').update(s).digest('hex');
    assert.equal(obj.indexOf(Buffer.from(plain)), -1, 'the sha256 of the store is not in the object');
    assert.equal(obj.indexOf(Buffer.from(createHash('sha256').update(s).digest())), -1);
    const { header } = readHeader(obj, 'k');
    assert.equal(header.sha256, undefined);
    assert.match(header.digest ?? '', /^[0-9a-f]{64}$/);
    assert.notEqual(header.digest, plain);
    // Decoding still gives the plaintext's sha256, computed from the plaintext.
    assert.equal(decodeReplica(obj, makeKeyring(K1), 'k', { instanceUuid: UUID, generation: 7 }).header.sha256, plain);
  });

  it('uses a fresh random IV per object (same store, same key, different ciphertext)', () => {
    const a = encodeReplica(store(), input, makeKeyring(K1));
    const b = encodeReplica(store(), input, makeKeyring(K1));
    assert.notEqual(readHeader(a, 'a').header.iv, readHeader(b, 'b').header.iv);
    assert.ok(!a.equals(b));
  });

  it('key rotation: an object written under an old key still decodes when that key is an old key', () => {
    const obj = encodeReplica(store(), input, makeKeyring(K1));
    const rotated = makeKeyring(K2, [K1]);
    assert.ok(decodeReplica(obj, rotated, 'k', { instanceUuid: UUID, generation: 7 }).store.equals(store()));
    const fresh = encodeReplica(store(), input, rotated);
    assert.equal(readHeader(fresh, 'k').header.key_id, K2.id, 'new objects use the current key');
  });

  it('a key this host lacks is a ReplicaKeyError naming the key id, not garbage', () => {
    const obj = encodeReplica(store(), input, makeKeyring(K1));
    assert.throws(
      () => decodeReplica(obj, makeKeyring(K2), 'k', { instanceUuid: UUID, generation: 7 }),
      (e: unknown) => e instanceof ReplicaKeyError && e.message.includes(K1.id) && e.message.includes(K2.id),
    );
  });

  const tamper: [string, (o: Buffer) => Buffer][] = [
    ['a flipped ciphertext byte', (o) => ((o[o.length - 40] ^= 1), o)],
    ['a flipped tag byte', (o) => ((o[o.length - 1] ^= 1), o)],
    [
      'a header edited (generation 7 → 8 is caught as a mismatch)',
      (o) => Buffer.from(o.toString('latin1').replace('"generation":7', '"generation":8'), 'latin1'),
    ],
    ['a header edited where the tag covers it (host)', (o) => Buffer.from(o.toString('latin1').replace('compute1', 'compute2'), 'latin1')],
    ['a truncated object', (o) => o.subarray(0, o.length - 100)],
    ['only the first bytes', (o) => o.subarray(0, 20)],
    ['another magic', (o) => Buffer.concat([Buffer.from('XXXXXXXX'), o.subarray(MAGIC.length)])],
  ];
  for (const [name, mutate] of tamper) {
    it(`refuses ${name} with ReplicaCorrupt`, () => {
      const obj = mutate(encodeReplica(store(), input, makeKeyring(K1)));
      assert.throws(() => decodeReplica(obj, makeKeyring(K1), 'k', { instanceUuid: UUID, generation: 7 }), ReplicaCorrupt);
    });
  }

  it('refuses an intact object filed under another instance or generation', () => {
    const obj = encodeReplica(store(), input, makeKeyring(K1));
    assert.throws(() => decodeReplica(obj, makeKeyring(K1), 'k', { instanceUuid: UUID, generation: 6 }), /expected .* generation 6/);
    assert.throws(() => decodeReplica(obj, makeKeyring(K1), 'k', { instanceUuid: randomBytes(4).toString('hex'), generation: 7 }), ReplicaCorrupt);
  });

  it('key ids are stable per key and differ between keys; key files need 64 hex characters', () => {
    assert.equal(keyId(K1.key), K1.id);
    assert.notEqual(K1.id, K2.id);
    assert.equal(parseKey(` ${'ab'.repeat(32)}\n`, 'f').key.length, 32);
    assert.throws(() => parseKey('abc', 'f'), /64 hex characters/);
    assert.throws(() => parseKey('zz'.repeat(32), 'f'), /64 hex characters/);
  });
});
