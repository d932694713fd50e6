import { strict as assert } from 'node:assert';
import { unwrap, objectName } from '../../../src/nova/objects';

describe('nova/objects unwrap', () => {
  it('returns plain JSON unchanged', () => {
    const v = { uuid: 'u', flavor: { extra_specs: { a: 'b' } }, list: [1, { x: 2 }] };
    assert.deepEqual(unwrap(v), v);
  });
  it('replaces nested primitives by their data at any depth, including lists', () => {
    const p = (name: string, data: unknown) => ({
      'nova_object.name': name,
      'nova_object.namespace': 'nova',
      'nova_object.version': '1.0',
      'nova_object.data': data,
      'nova_object.changes': ['x'],
    });
    const v = p('Instance', {
      uuid: 'u',
      flavor: p('Flavor', { extra_specs: { k: 'v' } }),
      pci: p('PciDeviceList', { objects: [p('PciDevice', { address: 'a' })] }),
    });
    assert.deepEqual(unwrap(v), { uuid: 'u', flavor: { extra_specs: { k: 'v' } }, pci: { objects: [{ address: 'a' }] } });
    assert.equal(objectName(v), 'Instance');
    assert.equal(objectName({ uuid: 'u' }), undefined);
  });
  it('does not treat a dict with only nova_object.name as a primitive', () => {
    assert.deepEqual(unwrap({ 'nova_object.name': 'X' }), { 'nova_object.name': 'X' });
  });
});
