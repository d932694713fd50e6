/**
 * varstore/errors: one error type, a Nova-style `InvalidNVRAM` whose HTTP status follows the
 * reason, with the offset and field in its details.
 */
import { strict as assert } from 'node:assert';
import { NovaError } from '../../../src/errors';
import { VARSTORE_ERROR_STATUS, VarStoreError, hex, isVarStoreError, type VarStoreErrorReason } from '../../../src/varstore/errors';

describe('varstore/errors', () => {
  const statuses: Array<[VarStoreErrorReason, number]> = [
    ['qcow2', 422],
    ['unformatted', 422],
    ['not-edk2', 422],
    ['unsupported', 422],
    ['corrupt', 422],
    ['full', 409],
    ['invalid-variable', 400],
    ['not-found', 404],
    ['invalid-json', 400],
  ];
  for (const [reason, status] of statuses) {
    it(`a ${reason} error is InvalidNVRAM with HTTP ${status}`, () => {
      const e = new VarStoreError(reason, 'm');
      assert.ok(e instanceof NovaError);
      assert.equal(e.type, 'InvalidNVRAM');
      assert.equal(e.code, status);
      assert.equal(e.reason, reason);
      assert.equal(e.message, 'm');
    });
  }

  it('every reason has a status', () => {
    assert.deepEqual(Object.keys(VARSTORE_ERROR_STATUS).sort(), statuses.map(([r]) => r).sort());
    assert.ok(Object.isFrozen(VARSTORE_ERROR_STATUS));
  });

  it('carries offset, field and cause, and puts offset and field in the details', () => {
    const cause = new Error('inner');
    const e = new VarStoreError('corrupt', 'bad', { offset: 0x48, field: 'attr', cause });
    assert.equal(e.offset, 0x48);
    assert.equal(e.field, 'attr');
    assert.equal(e.cause, cause);
    assert.deepEqual(e.details, { reason: 'corrupt', offset: 0x48, field: 'attr' });
  });

  it('leaves offset and field out of the details when not given (offset 0 is kept)', () => {
    assert.deepEqual(new VarStoreError('full', 'x').details, { reason: 'full' });
    assert.deepEqual(new VarStoreError('corrupt', 'x', { offset: 0 }).details, { reason: 'corrupt', offset: 0 });
  });

  it('isVarStoreError tells it from other errors', () => {
    assert.equal(isVarStoreError(new VarStoreError('full', 'x')), true);
    assert.equal(isVarStoreError(new NovaError('InvalidNVRAM', 400, 'x')), false);
    assert.equal(isVarStoreError(new Error('x')), false);
    assert.equal(isVarStoreError(undefined), false);
  });

  it('hex formats in lower case with 0x', () => {
    assert.equal(hex(0x1a2b), '0x1a2b');
    assert.equal(hex(0), '0x0');
  });
});
