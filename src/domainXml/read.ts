/**
 * @module domainXml/read
 * Read back what a domain's XML says about firmware (`readDomainFirmware`), its name
 * (`domainNameOf`), and one narrow rewrite other layers need: `setNvramPath`, which changes
 * only the `<nvram>` path (used when a migration lands the store at another path).
 * Malformed XML raises `InvalidInput('domain_xml', ...)`.
 */
import type { DomainFirmwareView } from './types';
import { child, parseXml, removeChildren, serializeXml, textOf, type XmlElement } from './serialize';
import { osFirmwareFromXml, setNvramPathOf } from './model';
import { InvalidInput } from '../errors';

function parseDomain(xml: string): XmlElement {
  const dom = parseXml(xml, 'domain_xml');
  if (dom.name !== 'domain') throw new InvalidInput('domain_xml', `root element is <${dom.name}>, expected <domain>`);
  return dom;
}

/** The firmware-relevant facts of a domain, as written (attribute strings are not normalised). */
export function readDomainFirmware(xml: string): DomainFirmwareView {
  const dom = parseDomain(xml);
  const os = child(dom, 'os');
  const type = child(os, 'type');
  const fw = osFirmwareFromXml(dom);
  const view: DomainFirmwareView = {
    name: textOf(child(dom, 'name')) ?? '',
    smm: fw.smm,
    osAttributes: { ...(os?.attrs ?? {}) },
  };
  const uuid = textOf(child(dom, 'uuid'));
  if (uuid !== undefined) view.uuid = uuid;
  if (dom.attrs.type !== undefined) view.type = dom.attrs.type;
  if (type?.attrs.arch !== undefined) view.arch = type.attrs.arch;
  if (type?.attrs.machine !== undefined) view.machine = type.attrs.machine;
  if (os?.attrs.firmware !== undefined) view.osFirmware = os.attrs.firmware;
  if (fw.loader) view.loader = fw.loader;
  if (fw.nvram) view.nvram = fw.nvram;
  return view;
}

/** `<name>` of a domain; `InvalidInput` when missing or empty. */
export function domainNameOf(xml: string): string {
  const name = textOf(child(parseDomain(xml), 'name'));
  if (!name) throw new InvalidInput('domain_xml', 'no <name> element');
  return name;
}

/**
 * New XML with only the `<nvram>` path changed (`null` removes the `<nvram>` element).
 * A domain without `<nvram>` is returned unchanged (BIOS and stateless guests have none;
 * adding one here would change their firmware mode). The template attribute is kept, and
 * the `<nvram type='file'><source file=…/>` form keeps its form.
 */
export function setNvramPath(xml: string, path: string | null): string {
  const dom = parseDomain(xml);
  const os = child(dom, 'os');
  const nvram = child(os, 'nvram');
  if (!os || !nvram) return xml;
  if (path === null) removeChildren(os, 'nvram');
  else setNvramPathOf(nvram, path);
  return serializeXml(dom);
}

/**
 * Point the unix-socket serial console (and its <console> alias) at `path`: a destination
 * host binds its own socket while the source's is still in use during a live migration.
 */
export function setSerialSocketPath(xml: string, path: string): string {
  const dom = parseXml(xml);
  const devs = child(dom, 'devices');
  if (!devs) return xml;
  let changed = false;
  for (const kind of ['serial', 'console']) {
    for (const e of devs.children) {
      if (typeof e === 'string' || e.name !== kind || e.attrs.type !== 'unix') continue;
      const src = child(e, 'source');
      if (src && src.attrs.path !== path) {
        src.attrs.path = path;
        changed = true;
      }
    }
  }
  return changed ? serializeXml(dom) : xml;
}
