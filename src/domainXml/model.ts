/**
 * @module domainXml/model
 * The firmware part of a domain in libvirt's own names (formatdomain "BIOS bootloader"):
 * `<loader readonly type secure stateless>PATH</loader>`, `<nvram template>PATH</nvram>`
 * and `<features><smm state/>`. Symmetric `toXml` / `fromXml` per element, yes/no
 * conversion in one function, a fixed attribute order and a fixed child order in `<os>`
 * (type, loader, nvram, then everything else in its original order).
 *
 * Deliberately absent: `<os firmware='efi'>` and `<os><firmware><feature>`. libvirt 9.0
 * re-runs auto-selection at every cold start from them (libvirt-qemu-edk2.md §3.1), so the
 * firmware could change under a guest's NVRAM; this layer only ever writes the explicit form.
 */
import type { FirmwareSelection } from '../firmware/types';
import { InvalidInput } from '../errors';
import { child, el, elementChildren, textOf, type XmlElement } from './serialize';

export type YesNo = 'yes' | 'no';

/** libvirt's boolean attribute form. The only place booleans become `yes`/`no`. */
export function yesNo(v: boolean): YesNo {
  return v ? 'yes' : 'no';
}

/** `<loader>`: attributes as libvirt spells them; path is the element text. */
export interface LoaderModel {
  path: string;
  readonly?: string;
  type?: string;
  secure?: string;
  stateless?: string;
}

/** `<nvram>`: the per-domain store path (text) and the template libvirt copies from. */
export interface NvramModel {
  path?: string;
  template?: string;
}

/** Everything firmware-related a domain says. `undefined` loader/nvram = element absent. */
export interface OsFirmwareModel {
  loader?: LoaderModel;
  nvram?: NvramModel;
  smm: boolean;
}

/** Attribute order written on `<loader>` (declared once; read back with the same list). */
export const LOADER_ATTRS = ['readonly', 'type', 'secure', 'stateless'] as const;
/** Attribute order written on `<nvram>`. */
export const NVRAM_ATTRS = ['template'] as const;
/** `<os>` children this layer places; others follow in their original relative order. */
export const OS_CHILD_ORDER = ['type', 'loader', 'nvram'] as const;

export function loaderToXml(m: LoaderModel): XmlElement {
  const attrs: Record<string, string> = {};
  for (const k of LOADER_ATTRS) if (m[k] !== undefined) attrs[k] = m[k];
  return el('loader', attrs, [m.path]);
}

export function loaderFromXml(e: XmlElement): LoaderModel {
  const m: LoaderModel = { path: textOf(e) ?? '' };
  for (const k of LOADER_ATTRS) if (e.attrs[k] !== undefined) m[k] = e.attrs[k];
  return m;
}

export function nvramToXml(m: NvramModel): XmlElement {
  const attrs: Record<string, string> = {};
  for (const k of NVRAM_ATTRS) if (m[k] !== undefined) attrs[k] = m[k];
  return el('nvram', attrs, m.path ? [m.path] : []);
}

/**
 * Where an `<nvram>` points: its text, or (libvirt 8.5+ form, libvirt-qemu-edk2.md §3.2)
 * `<nvram type='file'><source file=…/>` / `type='block'><source dev=…/>`. A network
 * source has no local path.
 */
export function nvramPathOf(e: XmlElement): string | undefined {
  const source = child(e, 'source');
  if (source) return source.attrs.file ?? source.attrs.dev;
  return textOf(e);
}

/** Point an `<nvram>` at `path`, in whichever form it already uses. */
export function setNvramPathOf(e: XmlElement, path: string): void {
  const source = child(e, 'source');
  if (!source) {
    e.children = [path];
    return;
  }
  if (e.attrs.type === 'block' || (source.attrs.dev !== undefined && source.attrs.file === undefined)) source.attrs.dev = path;
  else source.attrs.file = path;
}

export function nvramFromXml(e: XmlElement): NvramModel {
  const m: NvramModel = {};
  const path = nvramPathOf(e);
  if (path !== undefined) m.path = path;
  for (const k of NVRAM_ATTRS) if (e.attrs[k] !== undefined) m[k] = e.attrs[k];
  return m;
}

/** `<smm>` counts as on when present without `state` or with `state='on'` (formatdomain). */
export function smmFromXml(features: XmlElement | undefined): boolean {
  const smm = child(features, 'smm');
  return !!smm && (smm.attrs.state ?? 'on') === 'on';
}

/** Read the firmware model of a parsed domain. */
export function osFirmwareFromXml(dom: XmlElement): OsFirmwareModel {
  const os = child(dom, 'os');
  const loader = child(os, 'loader');
  const nvram = child(os, 'nvram');
  return {
    ...(loader ? { loader: loaderFromXml(loader) } : {}),
    ...(nvram ? { nvram: nvramFromXml(nvram) } : {}),
    smm: smmFromXml(child(dom, 'features')),
  };
}

/**
 * What `<os>` and `<features>` must say for a selection (null = BIOS: nothing at all).
 * Stateful firmware needs the NVRAM path (libvirt would otherwise invent one under its own
 * nvram_dir); stateless firmware never gets `<nvram>` (libvirt rejects it, §3.3).
 */
export function osFirmwareFromSelection(fw: FirmwareSelection | null, nvramPath: string | null): OsFirmwareModel {
  if (!fw) return { smm: false };
  if (!fw.loader) throw new InvalidInput('firmware.loader', 'empty loader path');
  const loader: LoaderModel = { path: fw.loader, readonly: yesNo(true), type: 'pflash', secure: yesNo(fw.secure) };
  if (fw.stateless) return { loader: { ...loader, stateless: yesNo(true) }, smm: fw.requires_smm };
  if (!nvramPath) throw new InvalidInput('nvram_path', 'stateful UEFI firmware needs an NVRAM path');
  const nvram: NvramModel = { path: nvramPath, ...(fw.nvram_template ? { template: fw.nvram_template } : {}) };
  return { loader, nvram, smm: fw.requires_smm };
}

/** Reorder `<os>` children: type, loader, nvram, then the rest as they were (stable). */
export function orderOsChildren(os: XmlElement): void {
  const rank = (n: string): number => {
    const i = (OS_CHILD_ORDER as readonly string[]).indexOf(n);
    return i < 0 ? OS_CHILD_ORDER.length : i;
  };
  os.children = elementChildren(os)
    .map((e, i) => ({ e, i }))
    .sort((a, b) => rank(a.e.name) - rank(b.e.name) || a.i - b.i)
    .map((x) => x.e);
}
