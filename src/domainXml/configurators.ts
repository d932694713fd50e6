/**
 * @module domainXml/configurators
 * A domain is built by small configurators applied in a listed order, one per XML section
 * (the KubeVirt converter shape). Each takes its inputs from the `DomainSpec` only.
 */
import type { DomainSpec } from './types';
import { child, childrenNamed, el, ensureChild, removeChildren, setText, type XmlElement } from './serialize';
import { osFirmwareModel, OS_CHILD_ORDER } from './model';

export type Configurator = (spec: DomainSpec, dom: XmlElement) => void;

/** type attribute, name, uuid. */
export const identity: Configurator = (spec, dom) => {
  dom.attrs.type = spec.virtType;
  setText(ensureChild(dom, 'name', 0), spec.name);
  setText(ensureChild(dom, 'uuid', 1), spec.uuid);
};

/** memory (KiB) and vcpu. */
export const sizing: Configurator = (spec, dom) => {
  const mem = ensureChild(dom, 'memory');
  mem.attrs = { unit: 'KiB' };
  setText(mem, String(spec.memoryMb * 1024));
  const vcpu = ensureChild(dom, 'vcpu');
  setText(vcpu, String(spec.vcpus));
};

/** <os><type arch machine>hvm</type>. */
export const osType: Configurator = (spec, dom) => {
  const os = ensureChild(dom, 'os');
  const type = ensureChild(os, 'type', 0);
  type.attrs = { ...type.attrs, arch: spec.arch, ...(spec.machine ? { machine: spec.machine } : {}) };
  setText(type, 'hvm');
};

/**
 * Explicit firmware in <os>: never `firmware='efi'` (libvirt 9.0 re-selects at every cold
 * start). BIOS: no loader, no nvram and no attributes on <os>.
 */
export const firmware: Configurator = (spec, dom) => {
  const os = ensureChild(dom, 'os');
  delete os.attrs.firmware;
  removeChildren(os, 'firmware');
  removeChildren(os, 'loader');
  removeChildren(os, 'nvram');
  const m = osFirmwareModel(spec.firmware, spec.nvramPath);
  if (!spec.firmware) os.attrs = {};
  if (m.loader) {
    const { path, ...attrs } = m.loader;
    os.children.push(el('loader', attrs, [path]));
  }
  if (m.nvram) os.children.push(el('nvram', { template: m.nvram.template }, [m.nvram.path]));
  const rank = (n: string) => {
    const i = (OS_CHILD_ORDER as readonly string[]).indexOf(n);
    return i < 0 ? OS_CHILD_ORDER.length : i;
  };
  const elems = os.children.filter((c): c is XmlElement => typeof c !== 'string');
  os.children = elems.map((e, i) => ({ e, i })).sort((a, b) => rank(a.e.name) - rank(b.e.name) || a.i - b.i).map((x) => x.e);
};

/** <features>: acpi on x86 for minimal builds; <smm state='on'/> when the firmware requires SMM. */
export const features: Configurator = (spec, dom) => {
  const needsSmm = !!spec.firmware?.requires_smm;
  let feats = child(dom, 'features');
  if (!feats && !spec.baseXml) {
    feats = ensureChild(dom, 'features');
    if (spec.arch === 'x86_64' || spec.arch === 'i686') feats.children.push(el('acpi'));
    if (spec.arch === 'aarch64') feats.children.push(el('gic', { version: '3' }));
  }
  if (needsSmm) {
    feats ??= ensureChild(dom, 'features');
    removeChildren(feats, 'smm');
    feats.children.push(el('smm', { state: 'on' }));
  }
};

/** CPU for minimal aarch64 builds under TCG. */
export const cpu: Configurator = (spec, dom) => {
  if (spec.baseXml || spec.arch !== 'aarch64' || child(dom, 'cpu')) return;
  dom.children.push(spec.virtType === 'kvm' ? el('cpu', { mode: 'host-passthrough' }) : el('cpu', { mode: 'custom', match: 'exact' }, [el('model', {}, ['cortex-a57'])]));
};

/** Lifecycle actions for minimal builds. */
export const lifecycle: Configurator = (spec, dom) => {
  if (spec.baseXml) return;
  for (const [k, v] of [['on_poweroff', 'destroy'], ['on_reboot', 'restart'], ['on_crash', 'destroy']]) if (!child(dom, k)) dom.children.push(el(k, {}, [v]));
};

/** Devices: a serial console on a unix socket when asked (tests drive the UEFI shell through it). */
export const devices: Configurator = (spec, dom) => {
  const devs = ensureChild(dom, 'devices');
  if (spec.serialSocket) {
    const has = childrenNamed(devs, 'serial').some((s) => child(s, 'source')?.attrs.path === spec.serialSocket);
    if (!has) {
      devs.children.push(el('serial', { type: 'unix' }, [el('source', { mode: 'bind', path: spec.serialSocket }), el('target', { port: '0' })]));
      devs.children.push(el('console', { type: 'unix' }, [el('source', { mode: 'bind', path: spec.serialSocket }), el('target', { type: 'serial', port: '0' })]));
    }
  }
};

/** Applied in this order for a minimal domain. */
export const MINIMAL: readonly Configurator[] = [identity, sizing, osType, firmware, features, cpu, lifecycle, devices];
/** Applied to Nova's own guest XML: only firmware, SMM and (if asked) the serial console. */
export const PATCH: readonly Configurator[] = [firmware, features, devices];
