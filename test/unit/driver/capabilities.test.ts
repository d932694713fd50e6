/**
 * driver/capabilities: one `as const` map of Nova capability keys and the placement traits the
 * firmware-dependent ones imply (nova/virt/driver.py CAPABILITY_TRAITS_MAP).
 */
import { strict as assert } from 'node:assert';
import { CAPABILITY_TRAITS, FIRMWARE_CAPABILITIES, STATIC_CAPABILITIES, traitsFor } from '../../../src/driver/capabilities';
import { PowerState } from '../../../src/nova/powerState';
import { UEFI, makeWorld, migration, newInstance, type World } from '../../support/driverHarness';

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

  describe('a capability the host reports true is one the driver serves', () => {
    let w: World;
    beforeEach(async () => {
      w = await makeWorld({ hosts: ['compute1', 'compute2'] });
    });
    afterEach(() => w.cleanup());

    const CASES: [keyof typeof STATIC_CAPABILITIES, (w: World) => Promise<void>][] = [
      [
        'supports_evacuate',
        async (w) => {
          const [A, B] = [w.host('compute1'), w.host('compute2')];
          const inst = newInstance();
          await A.driver.spawn(inst.uuid, { instance: inst, image_meta: UEFI });
          const v = await B.driver.spawn(inst.uuid, { instance: { ...inst, host: 'compute2' }, image_meta: UEFI, evacuate: true });
          assert.equal(v.power_state, PowerState.RUNNING);
          assert.ok(v.nvram, 'the evacuated guest has a variable store on the new host');
        },
      ],
      [
        'supports_migrate_to_same_host',
        async (w) => {
          const A = w.host('compute1');
          const inst = newInstance();
          await A.driver.spawn(inst.uuid, { instance: inst, image_meta: UEFI });
          await A.driver.migrateDiskAndPowerOff(inst.uuid, { instance: inst, dest: 'compute1' });
          const mig = migration('compute1', 'compute1');
          const v = await A.driver.finishMigration(inst.uuid, { instance: inst, migration: mig, image_meta: UEFI });
          assert.equal(v.power_state, PowerState.RUNNING);
          await A.driver.confirmMigration(inst.uuid, { instance: inst, migration: mig });
        },
      ],
    ];
    for (const [key, serve] of CASES) {
      it(`${key}: reported by the host and served`, async () => {
        assert.equal(w.host('compute1').driver.capabilities().capabilities[key], true);
        await serve(w);
      });
    }

    it('covers every static capability that is true', () => {
      const served = new Set(CASES.map(([k]) => k));
      for (const [k, v] of Object.entries(STATIC_CAPABILITIES))
        if (v) assert.ok(served.has(k as keyof typeof STATIC_CAPABILITIES), `${k} is true but no case serves it`);
    });
  });
});
