/**
 * varstore/loadOption: EFI_LOAD_OPTION (UEFI 2.10 §3.1.3) decoded field by field, attribute
 * bits and categories, and each malformed shape refused with DecodeError.
 */
import { strict as assert } from 'node:assert';
import {
  DecodeError,
  LOAD_OPTION_ACTIVE,
  LOAD_OPTION_CATEGORY_APP,
  LOAD_OPTION_FORCE_RECONNECT,
  LOAD_OPTION_HIDDEN,
  decodeLoadOption,
} from '../../../src/varstore/loadOption';

const END = Buffer.from('7fff0400', 'hex');
const USB = Buffer.from('03050600' + '0100', 'hex');

function option(attr: number, desc: Buffer | string, filePath: Buffer, optional = Buffer.alloc(0), pathLength = filePath.length): Buffer {
  const h = Buffer.alloc(6);
  h.writeUInt32LE(attr);
  h.writeUInt16LE(pathLength, 4);
  const d = typeof desc === 'string' ? Buffer.concat([Buffer.from(desc, 'utf16le'), Buffer.alloc(2)]) : desc;
  return Buffer.concat([h, d, filePath, optional]);
}

describe('varstore/loadOption', () => {
  it('has the UEFI attribute values', () => {
    assert.deepEqual([LOAD_OPTION_ACTIVE, LOAD_OPTION_FORCE_RECONNECT, LOAD_OPTION_HIDDEN, LOAD_OPTION_CATEGORY_APP], [1, 2, 8, 0x100]);
  });

  it('decodes an active boot option without optional data', () => {
    assert.deepEqual(decodeLoadOption(option(1, 'EFI USB Device', Buffer.concat([USB, END]))), {
      attributes: 1,
      active: true,
      hidden: false,
      force_reconnect: false,
      category: 'boot',
      description: 'EFI USB Device',
      device_path: 'USB(0x1,0x0)',
    });
  });

  const bits: Array<[string, number, { active: boolean; hidden: boolean; force_reconnect: boolean; category: 'boot' | 'app' | number }]> = [
    ['an inactive option', 0, { active: false, hidden: false, force_reconnect: false, category: 'boot' }],
    ['force-reconnect', 3, { active: true, hidden: false, force_reconnect: true, category: 'boot' }],
    ['a hidden application', 0x109, { active: true, hidden: true, force_reconnect: false, category: 'app' }],
    ['a reserved category as its bits', 0x201, { active: true, hidden: false, force_reconnect: false, category: 0x200 }],
    ['bits outside the category mask ignored for the category', 0x80000001, { active: true, hidden: false, force_reconnect: false, category: 'boot' }],
  ];
  for (const [title, attr, want] of bits) {
    it(`reads ${title} (0x${attr.toString(16)})`, () => {
      const o = decodeLoadOption(option(attr, 'x', END));
      assert.deepEqual({ active: o.active, hidden: o.hidden, force_reconnect: o.force_reconnect, category: o.category }, want);
      assert.equal(o.attributes, attr);
    });
  }

  it('keeps optional data as hex (the shim/GRUB argument bytes after the path)', () => {
    assert.equal(decodeLoadOption(option(1, 'x', END, Buffer.from('4eac0881', 'hex'))).optional_data, '4eac0881');
  });

  it('decodes an empty description and an empty file path', () => {
    const o = decodeLoadOption(option(1, '', Buffer.alloc(0)));
    assert.equal(o.description, '');
    assert.equal(o.device_path, '');
  });

  it('decodes a non-ASCII description', () => {
    assert.equal(decodeLoadOption(option(1, 'Débian ☃', END)).description, 'Débian ☃');
  });

  it('takes exactly FilePathListLength bytes as the path and the rest as optional data', () => {
    const o = decodeLoadOption(option(1, 'x', Buffer.concat([USB, END]), Buffer.alloc(0), USB.length));
    assert.equal(o.device_path, 'USB(0x1,0x0)');
    assert.equal(o.optional_data, '7fff0400');
  });

  const bad: Array<[string, Buffer, RegExp]> = [
    ['fewer than 8 bytes', Buffer.alloc(7), /7 bytes, shorter than the 8-byte minimum/],
    ['a description without NUL', option(1, Buffer.from('AB', 'utf16le'), Buffer.alloc(0)), /not NUL-terminated/],
    ['a path length past the data', option(1, 'x', END, Buffer.alloc(0), 5), /FilePathListLength 5 runs past the data \(4 bytes left\)/],
  ];
  for (const [title, data, re] of bad) {
    it(`refuses ${title} with DecodeError`, () => {
      assert.throws(
        () => decodeLoadOption(data),
        (e: unknown) => e instanceof DecodeError && e.name === 'DecodeError' && re.test(e.message),
      );
    });
  }
});
