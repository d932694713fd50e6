import { strict as assert } from 'node:assert';
import { nvramPathFor, assertInside, validateDomainName } from '../../../src/nvram/paths';

describe('nvram/paths', () => {
  it('names the store <dir>/<name>_VARS.fd', () => {
    assert.equal(nvramPathFor('/var/lib/libvirt/qemu/nvram', 'instance-0000002a'), '/var/lib/libvirt/qemu/nvram/instance-0000002a_VARS.fd');
  });
  const bad = ['../etc/passwd', 'a/b', '/abs', '..', '.hidden', 'a\0b', '', 'x'.repeat(300), 'a..b', 'name with space'];
  for (const name of bad) {
    it(`rejects the domain name ${JSON.stringify(name.slice(0, 20))} with InvalidInput`, () => {
      assert.throws(
        () => nvramPathFor('/nv', name),
        (e: Error & { type?: string }) => e.type === 'InvalidInput',
      );
    });
  }
  it('accepts the characters Nova templates produce', () => {
    for (const n of ['instance-0000002a', 'vm_1', 'a.b', 'x:y+z']) assert.equal(validateDomainName(n), n);
  });
  it('refuses paths outside the directory, including the directory itself and prefixes', () => {
    assert.throws(() => assertInside('/nv', '/nv', 'f'));
    assert.throws(() => assertInside('/nv', '/nvx/a', 'f'));
    assert.throws(() => assertInside('/nv', '/nv/../etc', 'f'));
    assert.equal(assertInside('/nv', '/nv/a', 'f'), '/nv/a');
  });
});
