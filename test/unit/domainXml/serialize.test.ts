import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  child,
  childrenNamed,
  el,
  ensureChild,
  insertAfter,
  parseXml,
  removeChildren,
  serializeXml,
  setText,
  textOf,
  type XmlElement,
} from '../../../src/domainXml/serialize';
import { assertXmlEqual } from './xmlEqual';
import { FIXTURE_DIR } from './fixtures';

/** Every element as `path` and every attribute as `path/@name=value`, in document order. */
function inventory(e: XmlElement, p = ''): string[] {
  const here = `${p}/${e.name}`;
  const out = [here, ...Object.entries(e.attrs).map(([k, v]) => `${here}/@${k}=${v}`)];
  const text = textOf(e);
  if (text !== undefined && !e.children.some((c) => typeof c !== 'string')) out.push(`${here}/text()=${text}`);
  for (const c of e.children) if (typeof c !== 'string') out.push(...inventory(c, here));
  return out;
}

const novaXml = fs.readFileSync(path.join(FIXTURE_DIR, 'nova-efi-base-base.xml'), 'utf8');

describe('domainXml/serialize: round trips', () => {
  it('keeps every element, attribute and text of a realistic Nova guest XML, in order', () => {
    const once = parseXml(novaXml);
    const again = parseXml(serializeXml(once));
    assert.deepEqual(inventory(again), inventory(once));
    assertXmlEqual(serializeXml(once), novaXml);
    // Sanity: the inventory really covers the interesting parts.
    const inv = inventory(once).join('\n');
    for (const needle of [
      '/domain/metadata/nova:instance/@xmlns:nova=http://openstack.org/xmlns/libvirt/nova/1.1',
      '/domain/devices/rng/backend/text()=/dev/urandom',
      '/domain/os/firmware/feature/@name=secure-boot',
    ]) {
      assert.ok(inv.includes(needle), needle);
    }
  });

  it('is byte-stable: serialize(parse(serialize(x))) equals serialize(x)', () => {
    const first = serializeXml(parseXml(novaXml));
    assert.equal(serializeXml(parseXml(first)), first);
  });

  it('keeps interleaved same-name siblings in document order (disk, controller, interface, disk)', () => {
    const devices = child(parseXml(serializeXml(parseXml(novaXml))), 'devices')!;
    const names = devices.children.filter((c): c is XmlElement => typeof c !== 'string').map((c) => c.name);
    assert.deepEqual(names.slice(0, 4), ['disk', 'controller', 'interface', 'disk']);
    assert.deepEqual(
      childrenNamed(devices, 'disk').map((d) => d.attrs.device),
      ['disk', 'cdrom'],
    );
  });

  const texts: [string, string, string][] = [
    ['XML metacharacters in text', '<a>x &amp; &lt;y&gt; "q" \'s\'</a>', 'x & <y> "q" \'s\''],
    ['CDATA content (as plain text)', '<a><![CDATA[<b>&</b>]]></a>', '<b>&</b>'],
    ['whitespace-only text of a leaf element', '<a>   </a>', '   '],
  ];
  for (const [what, xml, want] of texts) {
    it(`round-trips ${what}`, () => {
      const once = parseXml(xml);
      assert.deepEqual(once.children, [want]);
      assert.deepEqual(parseXml(serializeXml(once)).children, [want]);
    });
  }

  const attrs: [string, string][] = [
    ['quotes and ampersands', `a'b"c&d<e>`],
    ['tab, newline and carriage return', 'l1\nl2\tx\ry'],
  ];
  for (const [what, value] of attrs) {
    it(`round-trips an attribute value with ${what}`, () => {
      const xml = serializeXml(el('a', { v: value }));
      assert.equal(parseXml(xml).attrs.v, value);
    });
  }

  it('drops comments, the XML declaration and layout whitespace, which libvirt ignores', () => {
    const dom = parseXml("<?xml version='1.0'?>\n<!-- c -->\n<domain>\n  <!-- inner -->\n  <name>x</name>\n</domain>");
    assert.deepEqual(dom.children, [el('name', {}, ['x'])]);
  });
});

describe('domainXml/serialize: malformed input', () => {
  const bad: [string, string][] = [
    ['an empty string', ''],
    ['blank text', ' \n '],
    ['plain text', 'domain'],
    ['an unclosed element', '<domain><name>x</name>'],
    ['a mismatched close tag', '<domain></os>'],
    ['an undefined entity', '<domain>&nbsp;</domain>'],
    ['a second root element', '<domain/><domain/>'],
    ['text after the root', '<domain/> junk'],
    ['an unquoted attribute', '<domain type=kvm/>'],
  ];
  for (const [what, xml] of bad) {
    it(`turns ${what} into a one-line InvalidInput naming the field`, () => {
      assert.throws(
        () => parseXml(xml, 'base_xml'),
        (e: Error & { type?: string; details?: Record<string, unknown> }) => {
          assert.equal(e.type, 'InvalidInput');
          assert.deepEqual(e.details, { field: 'base_xml' });
          assert.ok(!e.message.includes('\n'), e.message);
          assert.match(e.message, /^Invalid input received: base_xml: /);
          return true;
        },
      );
    });
  }

  it('names domain_xml by default', () => {
    assert.throws(
      () => parseXml('<x>'),
      (e: Error & { details?: Record<string, unknown> }) => e.details?.field === 'domain_xml',
    );
  });
});

describe('domainXml/serialize: tree helpers', () => {
  const tree = (): XmlElement => parseXml('<domain><name>n</name><memory>1</memory><os><type>hvm</type></os><devices/></domain>');

  it('child finds the first element by name, undefined when absent or parent undefined', () => {
    const d = tree();
    assert.equal(textOf(child(d, 'name')), 'n');
    assert.equal(child(d, 'nope'), undefined);
    assert.equal(child(undefined, 'name'), undefined);
  });

  const ensures: [string, string, string[], string[]][] = [
    ['returns an existing child without moving it', 'memory', ['devices'], ['name', 'memory', 'os', 'devices']],
    ['places a new child after the first existing anchor', 'uuid', ['uuid', 'name'], ['name', 'uuid', 'memory', 'os', 'devices']],
    ['appends when no anchor exists', 'clock', ['nope'], ['name', 'memory', 'os', 'devices', 'clock']],
  ];
  for (const [what, name, after, want] of ensures) {
    it(`ensureChild ${what}`, () => {
      const d = tree();
      ensureChild(d, name, after);
      assert.deepEqual(
        d.children.map((c) => (typeof c === 'string' ? '#text' : c.name)),
        want,
      );
    });
  }

  it('insertAfter goes after the last sibling of the anchor name', () => {
    const d = parseXml('<devices><disk/><disk/><serial/></devices>');
    insertAfter(d, el('interface'), ['disk']);
    assert.deepEqual(
      d.children.map((c) => (typeof c === 'string' ? '#text' : c.name)),
      ['disk', 'disk', 'interface', 'serial'],
    );
  });

  it('removeChildren removes all of a name and reports how many', () => {
    const d = parseXml('<devices><disk/><serial/><disk/></devices>');
    assert.equal(removeChildren(d, 'disk'), 2);
    assert.equal(removeChildren(d, 'disk'), 0);
    assert.deepEqual(d.children, [el('serial')]);
  });

  it('setText replaces content; textOf trims and reads undefined for empty', () => {
    const e = el('name', {}, [el('x')]);
    setText(e, ' vm ');
    assert.equal(textOf(e), 'vm');
    assert.equal(textOf(el('name')), undefined);
    assert.equal(textOf(undefined), undefined);
  });
});
