import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { assertXmlEqual, xmlDiff } from './xmlEqual';
import { FIXTURE_DIR } from './fixtures';

const expected = `<domain type='kvm'>
  <name>instance-0000002a</name>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <loader readonly='yes' type='pflash' secure='no'>/c.fd</loader>
    <nvram template='/t.fd'>/n.fd</nvram>
  </os>
  <devices><disk type='file'/><interface type='bridge'/><disk type='block'/></devices>
</domain>`;

describe('test helper xmlEqual: structural XML comparison', () => {
  const equal: [string, string][] = [
    ['ignores attribute order', expected.replace("readonly='yes' type='pflash' secure='no'", "secure='no' readonly='yes' type='pflash'")],
    ['ignores quote style', expected.replace(/'/g, '"')],
    ['ignores indentation and whitespace-only text between elements', expected.replace(/\n\s*/g, '')],
    ['ignores an XML declaration and comments', `<?xml version="1.0"?>\n<!-- hi -->\n${expected.replace('<os>', '<os><!-- firmware -->')}`],
    ['treats self-closing and empty elements alike', expected.replace("<disk type='file'/>", "<disk type='file'></disk>")],
  ];
  for (const [name, variant] of equal) {
    it(name, () => assert.equal(xmlDiff(variant, expected), null));
  }

  const different: { name: string; variant: string; path: string; message: RegExp }[] = [
    {
      name: 'reports a changed attribute value at its path',
      variant: expected.replace("secure='no'", "secure='yes'"),
      path: '/domain/os[1]/loader[1]/@secure',
      message: /expected "no", got "yes"/,
    },
    {
      name: 'reports a missing attribute',
      variant: expected.replace(" template='/t.fd'", ''),
      path: '/domain/os[1]/nvram[1]/@template',
      message: /missing attribute/,
    },
    {
      name: 'reports an extra attribute',
      variant: expected.replace('<os>', "<os firmware='efi'>"),
      path: '/domain/os[1]/@firmware',
      message: /unexpected attribute/,
    },
    {
      name: 'reports changed text',
      variant: expected.replace('/n.fd', '/other.fd'),
      path: '/domain/os[1]/nvram[1]/text()',
      message: /expected "\/n\.fd", got "\/other\.fd"/,
    },
    {
      name: 'reports a missing element',
      variant: expected.replace(/<nvram[^]*?<\/nvram>/, ''),
      path: '/domain/os[1]/nvram[1]',
      message: /missing element <nvram>/,
    },
    {
      name: 'reports an extra element',
      variant: expected.replace('</os>', '<boot dev="hd"/></os>'),
      path: '/domain/os[1]/boot[1]',
      message: /unexpected element <boot>/,
    },
    {
      name: 'reports reordered interleaved siblings',
      variant: expected.replace("<disk type='file'/><interface type='bridge'/>", "<interface type='bridge'/><disk type='file'/>"),
      path: '/domain/devices[1]/disk[1]',
      message: /element name: expected <disk>, got <interface>/,
    },
    {
      name: 'counts same-named siblings in the path',
      variant: expected.replace("<disk type='block'/>", "<disk type='network'/>"),
      path: '/domain/devices[1]/disk[2]/@type',
      message: /expected "block", got "network"/,
    },
  ];
  for (const c of different) {
    it(c.name, () => {
      const d = xmlDiff(c.variant, expected);
      assert.ok(d, 'expected a difference');
      assert.equal(d.path, c.path);
      assert.match(d.message, c.message);
    });
  }

  it('fails a real golden file on a one-attribute difference, naming the path', () => {
    const golden = fs.readFileSync(path.join(FIXTURE_DIR, 'q35-secure-smm-out.xml'), 'utf8');
    assertXmlEqual(golden, golden);
    const tampered = golden.replace("<smm state='on'/>", "<smm state='off'/>");
    assert.notEqual(tampered, golden);
    assert.throws(
      () => assertXmlEqual(tampered, golden, 'q35-secure-smm'),
      (e: Error) => {
        assert.equal(e.name, 'AssertionError');
        assert.equal(e.message, 'q35-secure-smm differs at /domain/features[1]/smm[1]/@state: expected "on", got "off"');
        return true;
      },
    );
  });
});
