import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';
import { RequestValidator } from '../../../src/api/requestValidator';

const prim = (name: string, data: object) => ({
  'nova_object.name': name,
  'nova_object.namespace': 'nova',
  'nova_object.version': '1.0',
  'nova_object.data': data,
});

describe('api/validate RequestValidator', () => {
  const v = new RequestValidator();
  it('has a request schema for every Nova method the API serves', () => {
    for (const m of [
      'spawn',
      'destroy',
      'reboot',
      'power_off',
      'power_on',
      'rebuild',
      'rescue',
      'unrescue',
      'migrate_disk_and_power_off',
      'finish_migration',
      'confirm_migration',
      'finish_revert_migration',
      'check_can_live_migrate_destination',
      'check_can_live_migrate_source',
      'pre_live_migration',
      'live_migration',
      'post_live_migration',
      'post_live_migration_at_source',
      'post_live_migration_at_destination',
      'rollback_live_migration_at_source',
      'rollback_live_migration_at_destination',
      'cleanup',
    ]) {
      assert.ok(v.has(m), m);
    }
  });
  const ok: [string, string, object][] = [
    ['plain spawn', 'spawn', { instance: { uuid: randomUUID(), id: 1 }, image_meta: { properties: { hw_firmware_type: 'uefi' } } }],
    [
      'primitive spawn with nested primitives',
      'spawn',
      {
        instance: prim('Instance', { uuid: randomUUID(), id: 1, flavor: prim('Flavor', { extra_specs: { 'os:secure_boot': 'required' } }) }),
        image_meta: prim('ImageMeta', { properties: prim('ImageMetaProps', { hw_firmware_type: 'uefi' }) }),
      },
    ],
    ['unknown (newer Nova) arguments', 'destroy', { instance: { uuid: randomUUID(), id: 1 }, destroy_disks: true, some_new_arg: [1, 2] }],
  ];
  for (const [what, op, body] of ok) it(`accepts ${what}`, () => v.validate(op, body));
  const bad: [string, string, object, string][] = [
    ['a missing instance', 'spawn', { image_meta: {} }, 'instance'],
    ['a non-uuid instance.uuid', 'destroy', { instance: { uuid: 'nope', id: 1 } }, 'instance.uuid'],
    [
      'an unknown hw_firmware_type',
      'spawn',
      { instance: { uuid: randomUUID() }, image_meta: { properties: { hw_firmware_type: 'x' } } },
      'image_meta.properties.hw_firmware_type',
    ],
    ['a bad field inside a primitive', 'spawn', { instance: prim('Instance', { uuid: randomUUID(), id: 'x' }), image_meta: {} }, 'instance.id'],
    ['a bad reboot_type', 'reboot', { instance: { uuid: randomUUID(), id: 1 }, reboot_type: 'MEDIUM' }, 'reboot_type'],
    ['a missing dest', 'migrate_disk_and_power_off', { instance: { uuid: randomUUID(), id: 1 } }, 'dest'],
    // (destroy and cleanup need only the uuid: test/integration/api.destroy.tolerant.test.ts)
    ['a missing instance.id (Nova always sends it)', 'power_off', { instance: { uuid: randomUUID() } }, 'instance.id'],
    ['a missing instance.uuid on destroy', 'destroy', { instance: { id: 1 } }, 'instance.uuid'],
  ];
  for (const [what, op, body, field] of bad) {
    it(`refuses ${what}, naming ${field}`, () => {
      assert.throws(
        () => v.validate(op, body),
        (e: Error & { type?: string; details?: { field?: string } }) => e.type === 'InvalidInput' && e.details?.field === field,
      );
    });
  }
});
