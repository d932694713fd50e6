/**
 * replica/errors: each failure is a Nova-style error with its own name, HTTP status and the
 * details an operator needs (the key, the key id, the fencing owner).
 */
import { strict as assert } from 'node:assert';
import { NovaError } from '../../../src/errors';
import { ReplicaCorrupt, ReplicaFenced, ReplicaKeyError, ReplicaUnavailable } from '../../../src/replica/errors';

describe('replica/errors', () => {
  it('ReplicaUnavailable is a 503 that says what could not be reached, with its cause', () => {
    const cause = new Error('ECONNREFUSED');
    const e = new ReplicaUnavailable('PUT a/b at s3 http://x/b', { cause });
    assert.ok(e instanceof NovaError);
    assert.equal(e.type, 'ReplicaUnavailable');
    assert.equal(e.code, 503);
    assert.equal(e.message, 'NVRAM replica store unavailable: PUT a/b at s3 http://x/b');
    assert.equal(e.cause, cause);
  });

  it('ReplicaCorrupt is a 422 naming the object and the reason', () => {
    const e = new ReplicaCorrupt('p/u/gen-1', 'GCM tag mismatch');
    assert.equal(e.type, 'ReplicaCorrupt');
    assert.equal(e.code, 422);
    assert.equal(e.objectKey, 'p/u/gen-1');
    assert.equal(e.reason, 'GCM tag mismatch');
    assert.equal(e.message, 'NVRAM replica p/u/gen-1 is corrupt or was tampered with: GCM tag mismatch');
    assert.deepEqual(e.details, { key: 'p/u/gen-1' });
  });

  it('ReplicaKeyError is a 409 naming the missing key id and the ids this host holds', () => {
    const e = new ReplicaKeyError('p/u/gen-2', 'abcd', ['k1', 'k2']);
    assert.equal(e.type, 'ReplicaKeyError');
    assert.equal(e.code, 409);
    assert.match(e.message, /encrypted with key abcd, which this host does not hold \(its keys: k1, k2\)/);
    assert.match(e.message, /set \[replica\] encryption_key_file or old_key_files/);
    assert.deepEqual(e.details, { key: 'p/u/gen-2', key_id: 'abcd' });
    assert.match(new ReplicaKeyError('k', 'x', []).message, /its keys: none/);
  });

  it('ReplicaFenced is a 409 naming the owner and the generation since which it owns the replicas', () => {
    const e = new ReplicaFenced('uuid-1', 12, 'host-b');
    assert.equal(e.type, 'ReplicaFenced');
    assert.equal(e.code, 409);
    assert.equal(e.instanceUuid, 'uuid-1');
    assert.equal(e.generation, 12);
    assert.equal(e.owner, 'host-b');
    assert.match(e.message, /^NVRAM replicas of uuid-1 belong to host host-b since generation 12: this host writes none/);
    assert.deepEqual(e.details, { generation: 12, owner: 'host-b' });
  });
});
