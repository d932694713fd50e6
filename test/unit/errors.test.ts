/**
 * errors: each class carries Nova's exception name, the HTTP status the API answers with and
 * Nova's message text; storage failures say the step and errno in words.
 */
import { strict as assert } from 'node:assert';
import {
  FlavorImageConflict,
  HypervisorError,
  InstanceExists,
  InstanceInvalidState,
  InstanceNotFound,
  InternalError,
  Invalid,
  InvalidInput,
  MethodNotAllowed,
  MigrationError,
  MigrationPreCheckError,
  NotFound,
  NovaError,
  SecureBootNotSupported,
  ServiceUnavailable,
  StorageError,
  UEFINotSupported,
  Unauthorized,
  isNovaError,
  storageError,
} from '../../src/errors';

describe('errors', () => {
  const table: Array<[string, NovaError, string, number, string]> = [
    ['NotFound', new NotFound('no such generation'), 'NotFound', 404, 'no such generation'],
    ['Invalid (default 400)', new Invalid('bad enum'), 'Invalid', 400, 'bad enum'],
    ['Invalid as a 409', new Invalid('replicas not configured', undefined, 409), 'Invalid', 409, 'replicas not configured'],
    ['InvalidInput', new InvalidInput('flavor.extra_specs', 'not an object'), 'InvalidInput', 400, 'Invalid input received: flavor.extra_specs: not an object'],
    ['InvalidInput as a 415', new InvalidInput('content-type', 'not JSON', 415), 'InvalidInput', 415, 'Invalid input received: content-type: not JSON'],
    ['UEFINotSupported without reason', new UEFINotSupported(), 'UEFINotSupported', 400, 'UEFI is not supported'],
    ['UEFINotSupported with reason', new UEFINotSupported('no loader'), 'UEFINotSupported', 400, 'UEFI is not supported: no loader'],
    ['SecureBootNotSupported', new SecureBootNotSupported(), 'SecureBootNotSupported', 400, 'Secure Boot is not supported by host'],
    ['SecureBootNotSupported with reason', new SecureBootNotSupported('no SMM'), 'SecureBootNotSupported', 400, 'Secure Boot is not supported by host: no SMM'],
    [
      'FlavorImageConflict',
      new FlavorImageConflict('hw:firmware_type', 'bios', 'uefi'),
      'FlavorImageConflict',
      400,
      'Conflicting values for hw:firmware_type found in the flavor (bios) and the image (uefi).',
    ],
    ['InstanceNotFound', new InstanceNotFound('abc'), 'InstanceNotFound', 404, 'Instance abc could not be found.'],
    ['InstanceNotFound with its own text', new InstanceNotFound('abc', 'not here'), 'InstanceNotFound', 404, 'not here'],
    ['InstanceExists', new InstanceExists('instance-0001'), 'InstanceExists', 409, 'Instance instance-0001 already exists.'],
    [
      'InstanceInvalidState',
      new InstanceInvalidState('u1', 'vm_state', 'active', 'rescue'),
      'InstanceInvalidState',
      409,
      'Instance u1 in vm_state active. Cannot rescue while the instance is in this state.',
    ],
    ['Unauthorized', new Unauthorized(), 'NotAuthorized', 401, 'Not authorized.'],
    ['MigrationPreCheckError', new MigrationPreCheckError('no peer'), 'MigrationPreCheckError', 400, 'Migration pre-check error: no peer'],
    ['MigrationError', new MigrationError('copy failed'), 'MigrationError', 500, 'Migration error: copy failed'],
    ['MigrationError with a code', new MigrationError('busy', { code: 409 }), 'MigrationError', 409, 'Migration error: busy'],
    ['HypervisorError', new HypervisorError('no-domain', 'gone'), 'InternalError', 500, 'gone'],
    ['MethodNotAllowed', new MethodNotAllowed('PUT not taken'), 'MethodNotAllowed', 405, 'PUT not taken'],
    ['ServiceUnavailable', new ServiceUnavailable('stopping'), 'ServiceUnavailable', 503, 'stopping'],
    ['InternalError', new InternalError('broken'), 'InternalError', 500, 'broken'],
  ];
  for (const [title, e, type, code, message] of table) {
    it(`${title} is ${type} with HTTP ${code} and Nova's text`, () => {
      assert.ok(e instanceof NovaError);
      assert.ok(e instanceof Error);
      assert.equal(e.type, type);
      assert.equal(e.name, type, 'name is the Nova class, so stack traces say it');
      assert.equal(e.code, code);
      assert.equal(e.message, message);
    });
  }

  it('keeps the details Nova needs to re-raise', () => {
    assert.deepEqual(new InvalidInput('name', 'empty').details, { field: 'name' });
    assert.deepEqual(new InstanceNotFound('u9').details, { instance_id: 'u9' });
    assert.deepEqual(new FlavorImageConflict('s', 'a', 'b').details, { setting: 's', flavor_val: 'a', image_val: 'b' });
    assert.deepEqual(new Invalid('x', { field: 'f' }).details, { field: 'f' });
    assert.equal(new HypervisorError('connect', 'down').kind, 'connect');
  });

  it('passes a cause through, and has none when not given', () => {
    const cause = new Error('inner');
    assert.equal(new MigrationError('x', { cause }).cause, cause);
    assert.equal(new InternalError('x', { cause }).cause, cause);
    assert.equal(new InternalError('x').cause, undefined);
    assert.equal('cause' in new NotFound('x'), false);
  });

  it('restated keeps type, status and details, says the new message, and points at the original', () => {
    const e = new InstanceNotFound('u1');
    const r = e.restated('while confirming the migration: instance u1 is gone');
    assert.ok(!(r instanceof InstanceNotFound), 'a plain NovaError');
    assert.equal(r.type, 'InstanceNotFound');
    assert.equal(r.code, 404);
    assert.deepEqual(r.details, { instance_id: 'u1' });
    assert.equal(r.message, 'while confirming the migration: instance u1 is gone');
    assert.equal(r.cause, e);
  });

  describe('StorageError', () => {
    it('says the step and the errno in words, answers 507 and names path, errno and step', () => {
      const e = new StorageError('/var/lib/nova/nvram/x_VARS.fd', 'rename', 'ENOSPC');
      assert.equal(e.type, 'StorageError');
      assert.equal(e.code, 507);
      assert.equal(e.message, 'Storage error: cannot rename into place /var/lib/nova/nvram/x_VARS.fd: no space left on device [ENOSPC]');
      assert.deepEqual(e.details, { path: '/var/lib/nova/nvram/x_VARS.fd', errno: 'ENOSPC', step: 'rename' });
    });

    it('uses the detail when the errno has no words, and appends a detail that adds something', () => {
      assert.equal(new StorageError('/f', 'write', 'EWEIRD', 'odd thing').message, 'Storage error: cannot write /f: odd thing [EWEIRD]');
      assert.equal(new StorageError('/f', 'sync', 'EIO', 'disk on fire').message, 'Storage error: cannot flush /f: input/output error [EIO] (disk on fire)');
      assert.equal(new StorageError('/f', 'frobnicate', 'EROFS').message, 'Storage error: cannot frobnicate /f: read-only file system [EROFS]');
    });

    it("storageError turns a Node errno error into one, without repeating Node's text", () => {
      const node = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      const e = storageError('/d/f', 'write', node);
      assert.equal(e.errno, 'ENOSPC');
      assert.equal(e.step, 'write');
      assert.equal(e.path, '/d/f');
      assert.equal(e.message, 'Storage error: cannot write /d/f: no space left on device [ENOSPC]');
      assert.equal(e.cause, node);
    });

    it('storageError calls a failure without an errno EIO and keeps its message', () => {
      const e = storageError('/d/f', 'verify', new Error('checksum mismatch'));
      assert.equal(e.errno, 'EIO');
      assert.equal(e.message, 'Storage error: cannot verify /d/f: input/output error [EIO] (checksum mismatch)');
      assert.equal(storageError('/d/f', 'verify', 'text').message, 'Storage error: cannot verify /d/f: input/output error [EIO] (text)');
    });

    it('storageError does not take a code that is not an errno', () => {
      const e = storageError('/f', 'open', Object.assign(new Error('x'), { code: 'ERR_INVALID_ARG_TYPE' }));
      assert.equal(e.errno, 'EIO');
    });

    it('storageError keeps a StorageError as it is', () => {
      const first = new StorageError('/a', 'sync-dir', 'EIO');
      assert.equal(storageError('/b', 'write', first), first);
    });
  });

  it('isNovaError is true for every class here and false for other errors', () => {
    for (const [, e] of table) assert.equal(isNovaError(e), true);
    assert.equal(isNovaError(new StorageError('/f', 'write', 'EIO')), true);
    assert.equal(isNovaError(new Error('x')), false);
    assert.equal(isNovaError({ type: 'NotFound', code: 404 }), false);
  });
});
