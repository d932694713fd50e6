/**
 * varstore/secureBoot: the state the firmware will compute on its next boot (edk2
 * AuthVariableLibInitialize), the cases decode.test.ts leaves out: an empty PK, SecureBootEnable
 * under the wrong GUID, CustomMode, databases under the wrong GUID, and certificate expiry
 * judged at the given moment.
 */
import { strict as assert } from 'node:assert';
import { secureBootSummary } from '../../../src/varstore/secureBoot';
import {
  EFI_CERT_SHA256,
  EFI_CERT_X509,
  EFI_CUSTOM_MODE_ENABLE,
  EFI_GLOBAL_VARIABLE as G,
  EFI_IMAGE_SECURITY_DATABASE as DB,
  EFI_SECURE_BOOT_ENABLE_DISABLE as SBE,
} from '../../../src/varstore/guids';
import type { Variable } from '../../../src/varstore/types';
import { TEST_CERT_DER, sigList } from './builder';

const v = (name: string, guid: string, data: Buffer): Variable => ({ name, guid, attr: 0x27, data });
const pk = v('PK', G, sigList(EFI_CERT_X509, [[G, TEST_CERT_DER]]));
const NOT_AFTER = new Date('2126-11-03T02:35:01.000Z');

describe('varstore/secureBoot', () => {
  it('a PK variable with no data counts as not enrolled (setup mode)', () => {
    const s = secureBootSummary([v('PK', G, Buffer.alloc(0))]);
    assert.equal(s.setup_mode, true);
    assert.equal(s.enabled, false);
  });

  it('a PK under another GUID is not the platform key', () => {
    const s = secureBootSummary([{ ...pk, guid: DB }]);
    assert.equal(s.setup_mode, true);
    assert.equal(s.pk.present, false);
  });

  it('SecureBootEnable under the global GUID is not the one edk2 reads (absent counts as enabled)', () => {
    const s = secureBootSummary([pk, v('SecureBootEnable', G, Buffer.from([0]))]);
    assert.equal(s.secure_boot_enable, null);
    assert.equal(s.enabled, true);
  });

  it('reports the raw SecureBootEnable byte, and an empty one as absent', () => {
    assert.equal(secureBootSummary([pk, v('SecureBootEnable', SBE, Buffer.from([0]))]).secure_boot_enable, 0);
    assert.equal(secureBootSummary([pk, v('SecureBootEnable', SBE, Buffer.alloc(0))]).secure_boot_enable, null);
  });

  const custom: Array<[string, Variable[], boolean]> = [
    ['absent', [], false],
    ['1', [v('CustomMode', EFI_CUSTOM_MODE_ENABLE, Buffer.from([1]))], true],
    ['0', [v('CustomMode', EFI_CUSTOM_MODE_ENABLE, Buffer.from([0]))], false],
    ['2', [v('CustomMode', EFI_CUSTOM_MODE_ENABLE, Buffer.from([2]))], false],
    ['empty', [v('CustomMode', EFI_CUSTOM_MODE_ENABLE, Buffer.alloc(0))], false],
    ['1 under the global GUID', [v('CustomMode', G, Buffer.from([1]))], false],
  ];
  for (const [title, vars, want] of custom) {
    it(`CustomMode ${title} is custom_mode ${want}, and does not change SecureBoot`, () => {
      const s = secureBootSummary([pk, ...vars]);
      assert.equal(s.custom_mode, want);
      assert.equal(s.enabled, true);
    });
  }

  it('reads KEK under the global GUID and db/dbx under the image security database GUID only', () => {
    const cert = sigList(EFI_CERT_X509, [[G, TEST_CERT_DER]]);
    const s = secureBootSummary([v('KEK', G, cert), v('db', DB, cert), v('dbx', G, sigList(EFI_CERT_SHA256, [[G, Buffer.alloc(32)]]))]);
    assert.equal(s.kek.certificates.length, 1);
    assert.equal(s.db.certificates.length, 1);
    assert.equal(s.dbx.present, false, 'dbx under the global GUID is not the forbidden database');
  });

  it('judges a certificate expired only after its notAfter', () => {
    const at = (d: Date) => secureBootSummary([pk], d).pk.details[0].expired;
    assert.equal(at(new Date(NOT_AFTER.getTime() - 1000)), false);
    assert.equal(at(NOT_AFTER), false, 'valid through its notAfter second');
    assert.equal(at(new Date(NOT_AFTER.getTime() + 1000)), true);
  });

  it('reports a variable whose data is not a signature list as an error of that database', () => {
    const s = secureBootSummary([pk, v('db', DB, Buffer.from('not a list at all, far too long to be a header'))]);
    assert.equal(s.db.present, true);
    assert.deepEqual(s.db.certificates, []);
    assert.match(s.db.error ?? '', /SignatureListSize|SignatureSize|header/);
  });
});
