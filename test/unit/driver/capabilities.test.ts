/**
 * driver/capabilities: one `as const` map of Nova capability keys and the placement traits the
 * firmware-dependent ones imply (nova/virt/driver.py CAPABILITY_TRAITS_MAP).
 */
import { strict as assert } from 'node:assert';
import { CAPABILITY_TRAITS, FIRMWARE_CAPABILITIES, STATIC_CAPABILITIES, traitsFor } from '../../../src/driver/capabilities';

describe('driver/capabilities', () => {
  const CASES: [string, Record<string, boolean>, string[]][] = [
    ['no trait when no firmware capability holds', { supports_secure_boot: false, supports_stateless_firmware: false }, []],
    ['the Secure Boot trait for supports_secure_boot', { supports_secure_boot: true }, ['COMPUTE_SECURITY_UEFI_SECURE_BOOT']],
    [
      'both traits, sorted, when both hold',
      { supports_stateless_firmware: true, supports_secure_boot: true },
      ['COMPUTE_SECURITY_STATELESS_FIRMWARE', 'COMPUTE_SECURITY_UEFI_SECURE_BOOT'],
    ],
    ['no trait for a static capability', { ...STATIC_CAPABILITIES, supports_migrate_to_same_host: true }, []],
  ];
  for (const [name, caps, want] of CASES) it(`gives ${name}`, () => assert.deepEqual(traitsFor(caps), want));

  it('maps every firmware-dependent key to a trait and keeps it out of the static map', () => {
    for (const k of FIRMWARE_CAPABILITIES) {
      assert.match(CAPABILITY_TRAITS[k], /^COMPUTE_/);
      assert.equal(k in STATIC_CAPABILITIES, false, k);
    }
  });
});
