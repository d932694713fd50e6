/**
 * varstore (index): the library's public surface as its callers (the CLI, the HTTP handlers)
 * use it, through the index alone: probe, parse, edit, write, diff, decode, export/import,
 * and every failure a VarStoreError with its reason.
 */
import { strict as assert } from 'node:assert';
import * as varstore from '../../../src/varstore';
import { buildStore } from './builder';

const { EFI_GLOBAL_VARIABLE: G } = varstore;

describe('varstore (index)', () => {
  it('probes, parses, edits, writes and reads back a store through the index', () => {
    const file = buildStore({ records: [{ name: 'Timeout', guid: G, data: Buffer.from('0500', 'hex') }] });
    assert.equal(varstore.probeVarStore(file), 'edk2');
    const before = varstore.parseVarStore(file).variables;
    const edited = varstore.setBootOrder(
      varstore.setVariable(before, { name: 'Boot0001', guid: G, attr: varstore.ATTR_NV_BS_RT, data: Buffer.from([1, 0, 0, 0, 4, 0, 0, 0, 0x7f, 0xff, 4, 0]) }),
      [1],
    );
    const written = varstore.writeVarStore(file, edited);
    assert.equal(written.length, file.length, 'the store keeps its size');
    const after = varstore.parseVarStore(written).variables;
    const diff = varstore.diffVariables(before, after);
    assert.deepEqual(diff.added.map((v) => v.name).sort(), ['Boot0001', 'BootOrder']);
    assert.equal(varstore.isEmptyDiff(varstore.diffVariables(after, varstore.parseVarStore(written).variables)), true);
    const order = varstore.findVariable(after, 'BootOrder', G);
    assert.ok(order);
    assert.deepEqual(varstore.decodeVariable(order), { kind: 'boot-order', order: [1], entries: ['Boot0001'] });
  });

  it('exports and imports the versioned JSON without loss', () => {
    const file = buildStore({ records: [{ name: 'Timeout', guid: G, data: Buffer.from('0500', 'hex') }] });
    const vars = varstore.parseVarStore(file).variables;
    const doc = varstore.exportJson(vars);
    assert.equal(doc.version, varstore.JSON_VERSION);
    const back = varstore.importJson(JSON.parse(JSON.stringify(doc)));
    assert.equal(varstore.isEmptyDiff(varstore.diffVariables(vars, back)), true);
  });

  const failures: Array<[string, () => unknown, varstore.VarStoreErrorReason, number]> = [
    ['parsing a qcow2 image', () => varstore.parseVarStore(Buffer.concat([Buffer.from([0x51, 0x46, 0x49, 0xfb]), Buffer.alloc(4092)])), 'qcow2', 422],
    ['parsing an all-zero file', () => varstore.parseVarStore(Buffer.alloc(0x10000)), 'unformatted', 422],
    ['setting a volatile variable', () => varstore.setVariable([], { name: 'X', guid: G, attr: 6, data: Buffer.from([1]) }), 'invalid-variable', 400],
    ['deleting a variable that does not exist', () => varstore.deleteVariable([], 'Nope', G), 'not-found', 404],
    ['importing a document without version', () => varstore.importJson({ variables: [] }), 'invalid-json', 400],
  ];
  for (const [title, f, reason, status] of failures) {
    it(`fails ${title} with VarStoreError '${reason}' (HTTP ${status})`, () => {
      assert.throws(f, (e: unknown) => varstore.isVarStoreError(e) && e.reason === reason && e.code === status && e.type === 'InvalidNVRAM');
    });
  }
});
