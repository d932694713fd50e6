/**
 * nova/instance: a Nova instance parsed once where a call enters. Each bad field is an
 * InvalidInput naming it; the domain name is derived once (Nova's name for a backend whose
 * domains are Nova's, else the template) and a call that never reads it is not refused for it.
 */
import { strict as assert } from 'node:assert';
import { ParsedInstance, type NamingRules } from '../../../src/nova/instance';
import type { NovaInstance } from '../../../src/nova/objects';

const UUID = '6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f';
const RULES: NamingRules = { template: 'instance-%08x', namedByNova: false };
/** An instance without its id (the request schemas require one; the parse does not rely on them). */
const NO_ID = { uuid: UUID } as NovaInstance;

function invalid(field: string): (e: unknown) => boolean {
  return (e) => (e as { type?: string }).type === 'InvalidInput' && (e as { details?: { field?: string } }).details?.field === field;
}

describe('nova/instance ParsedInstance', () => {
  const REFUSED: [string, () => unknown, string][] = [
    ['a missing instance', () => ParsedInstance.parse(UUID, undefined, RULES), 'instance'],
    [
      'an instance.uuid that is not the path’s',
      () => ParsedInstance.parse(UUID, { instance: { uuid: UUID.replace('6f', '7f'), id: 1 } }, RULES),
      'instance.uuid',
    ],
    ['a path uuid that is no uuid', () => ParsedInstance.parse('nope', { instance: { uuid: 'nope', id: 1 } }, RULES), 'instance_uuid'],
    ['an id that is no integer', () => ParsedInstance.parse(UUID, { instance: { uuid: UUID, id: 1.5 } }, RULES), 'instance.id'],
    [
      'a Nova name that is no file-name component',
      () => ParsedInstance.parse(UUID, { instance: { uuid: UUID, id: 1, name: '../x' } }, { ...RULES, namedByNova: true }).name,
      'instance.name',
    ],
    [
      'a template result that is no file-name component',
      () => ParsedInstance.parse(UUID, { instance: { uuid: UUID, id: 1 } }, { ...RULES, template: '../%(uuid)s' }).name,
      'instance name',
    ],
    ['a template that needs the id when none was sent', () => ParsedInstance.parse(UUID, { instance: NO_ID }, RULES).name, 'instance.id'],
  ];
  for (const [name, run, field] of REFUSED) it(`refuses ${name}, naming ${field}`, () => assert.throws(run, invalid(field)));

  it('takes the path uuid in lower case and matches instance.uuid case-insensitively', () => {
    const p = ParsedInstance.parse(UUID.toUpperCase(), { instance: { uuid: UUID.toUpperCase(), id: 7 } }, RULES);
    assert.equal(p.uuid, UUID);
    assert.equal(p.id, 7);
  });

  it('derives the domain name from the template, or takes Nova’s name when the backend’s domains are Nova’s', () => {
    assert.equal(ParsedInstance.parse(UUID, { instance: { uuid: UUID, id: 26 } }, RULES).name, 'instance-0000001a');
    const named = ParsedInstance.parse(UUID, { instance: { uuid: UUID, id: 26, name: 'instance-0000abcd' } }, { ...RULES, namedByNova: true });
    assert.equal(named.name, 'instance-0000abcd');
  });

  it('does not refuse a call that never reads the name: nameIfKnown is null without an id', () => {
    const p = ParsedInstance.parse(UUID, { instance: NO_ID }, RULES);
    assert.equal(p.nameIfKnown, null);
    assert.throws(() => p.name, invalid('instance.id'));
  });

  it('sizes from the call’s flavor, then the instance’s; a rebuild without one keeps the record’s', () => {
    const instance = { uuid: UUID, id: 1, vcpus: 1, memory_mb: 256, flavor: { vcpus: 2, memory_mb: 1024 } };
    const withFlavor = ParsedInstance.parse(UUID, { instance, flavor: { vcpus: 4, memory_mb: 4096, extra_specs: { 'os:secure_boot': 'required' } } }, RULES);
    assert.deepEqual(withFlavor.sizing, { vcpus: 4, memoryMb: 4096, extraSpecs: { 'os:secure_boot': 'required' } });
    assert.deepEqual(withFlavor.sizingOr({ vcpus: 8, memory_mb: 8192 }), withFlavor.sizing);
    const without = ParsedInstance.parse(UUID, { instance }, RULES);
    assert.deepEqual(without.sizing, { vcpus: 2, memoryMb: 1024, extraSpecs: {} });
    assert.deepEqual(without.sizingOr({ vcpus: 8, memory_mb: 8192, extra_specs: { a: 'b' } }), { vcpus: 8, memoryMb: 8192, extraSpecs: { a: 'b' } });
  });

  it('copies the image properties (a later change to the request does not reach the value)', () => {
    const image_meta = { properties: { hw_firmware_type: 'uefi' as 'uefi' | 'bios' } };
    const p = ParsedInstance.parse(UUID, { instance: { uuid: UUID, id: 1 }, image_meta }, RULES);
    image_meta.properties.hw_firmware_type = 'bios';
    assert.deepEqual(p.imageProps, { hw_firmware_type: 'uefi' });
  });
});
