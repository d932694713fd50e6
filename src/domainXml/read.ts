/**
 * @module domainXml/read
 * Read back what a domain's XML says about firmware, and small rewrites other layers need.
 */
import type { DomainFirmwareView } from './types';
import { child, parseXml, serializeXml, setText, removeChildren, textOf } from './serialize';
import { InvalidInput } from '../errors';

export function readDomainFirmware(xml: string): DomainFirmwareView {
  const dom = parseXml(xml);
  const os = child(dom, 'os');
  const type = os ? child(os, 'type') : undefined;
  const loader = os ? child(os, 'loader') : undefined;
  const nvram = os ? child(os, 'nvram') : undefined;
  const feats = child(dom, 'features');
  const smm = feats ? child(feats, 'smm') : undefined;
  return {
    name: textOf(child(dom, 'name')) ?? '',
    uuid: textOf(child(dom, 'uuid')),
    type: dom.attrs.type,
    arch: type?.attrs.arch,
    machine: type?.attrs.machine,
    osFirmware: os?.attrs.firmware,
    loader: loader ? { path: textOf(loader) ?? '', readonly: loader.attrs.readonly, type: loader.attrs.type, secure: loader.attrs.secure, stateless: loader.attrs.stateless } : undefined,
    nvram: nvram ? { path: textOf(nvram), template: nvram.attrs.template } : undefined,
    smm: !!smm && (smm.attrs.state ?? 'on') === 'on',
    osAttributes: { ...(os?.attrs ?? {}) },
  };
}

export function domainNameOf(xml: string): string {
  const name = textOf(child(parseXml(xml), 'name'));
  if (!name) throw new InvalidInput('domain_xml', 'no <name> element');
  return name;
}

/** Change only the <nvram> path (null removes the element). */
export function setNvramPath(xml: string, path: string | null): string {
  const dom = parseXml(xml);
  const os = child(dom, 'os');
  const nv = os ? child(os, 'nvram') : undefined;
  if (!os || !nv) return xml;
  if (path === null) removeChildren(os, 'nvram');
  else setText(nv, path);
  return serializeXml(dom) + '\n';
}
