import { strict as assert } from 'node:assert';
import { instanceName } from '../../../src/nova/naming';

describe('nova/naming instanceName', () => {
  const cases: [string, string, Record<string, unknown>, string][] = [
    ['formats the default template from instance.id in hex', 'instance-%08x', { id: 42 }, 'instance-0000002a'],
    ['keeps hex beyond eight digits', 'instance-%08x', { id: 0x1_0000_0000 }, 'instance-100000000'],
    ['supports %d', 'vm-%d', { id: 7 }, 'vm-7'],
    ['supports named keys from instance fields', 'inst-%(uuid)s', { id: 1 }, 'inst-11111111-2222-3333-4444-555555555555'],
    ['supports upper-case hex and width', 'i-%06X', { id: 255 }, 'i-0000FF'],
    ['passes %% through', '100%%-%d', { id: 3 }, '100%-3'],
  ];
  for (const [what, tpl, fields, want] of cases) {
    it(what, () => {
      assert.equal(instanceName(tpl, { uuid: '11111111-2222-3333-4444-555555555555', ...fields }), want);
    });
  }
  it('names instance.id when the template needs it and it is missing', () => {
    assert.throws(() => instanceName('instance-%08x', { uuid: 'u' }), /instance\.id/);
  });
  it('refuses a non-integer id for %x', () => {
    assert.throws(() => instanceName('instance-%08x', { uuid: 'u', id: 'x' as unknown as number }), /instance\.id/);
  });
});
