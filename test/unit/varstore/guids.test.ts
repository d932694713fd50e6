import { strict as assert } from 'node:assert';
import { guidToBytes, guidFromBytes, isGuid, resolveGuid, guidName, EFI_GLOBAL_VARIABLE, EFI_SYSTEM_NV_DATA_FV } from '../../../src/varstore/guids';

describe('varstore/guids', () => {
  const cases: Array<[string, { guid: string; bytes: string }]> = [
    ['NvData FV GUID as in the reference', { guid: EFI_SYSTEM_NV_DATA_FV, bytes: '8d2bf1ff96768b4ca9852747075b4f50' }],
    ['EFI_GLOBAL_VARIABLE', { guid: EFI_GLOBAL_VARIABLE, bytes: '61dfe48bca93d211aa0d00e098032b8c' }],
    ['all zeros', { guid: '00000000-0000-0000-0000-000000000000', bytes: '00'.repeat(16) }],
  ];
  for (const [name, { guid, bytes }] of cases) {
    it(`converts ${name} to mixed-endian bytes and back`, () => {
      assert.equal(guidToBytes(guid).toString('hex'), bytes);
      assert.equal(guidFromBytes(Buffer.from(bytes, 'hex')), guid);
    });
  }
  it('accepts upper case and returns lower case', () => {
    assert.equal(guidFromBytes(guidToBytes(EFI_GLOBAL_VARIABLE.toUpperCase())), EFI_GLOBAL_VARIABLE);
  });
  const notGuids: unknown[] = [
    '',
    'x',
    '8be4df61-93ca-11d2-aa0d-00e098032b8',
    '8be4df6193ca11d2aa0d00e098032b8c',
    '{8be4df61-93ca-11d2-aa0d-00e098032b8c}',
    42,
    null,
  ];
  for (const g of notGuids) {
    it(`rejects ${JSON.stringify(g)} as a GUID`, () => assert.equal(isGuid(g), false));
  }
  it('resolves well-known names case-insensitively and GUIDs to lower case', () => {
    assert.equal(resolveGuid('efiglobalvariable'), EFI_GLOBAL_VARIABLE);
    assert.equal(resolveGuid(EFI_GLOBAL_VARIABLE.toUpperCase()), EFI_GLOBAL_VARIABLE);
    assert.equal(resolveGuid('NoSuchName'), undefined);
    assert.equal(guidName(EFI_GLOBAL_VARIABLE), 'EfiGlobalVariable');
  });
});
