/**
 * @module domainXml/configurators
 * A domain is built by small configurators `(ctx, dom) => void`, one per XML section,
 * applied in a listed order (the KubeVirt converter shape). Inputs come only from the
 * `DomainSpec`; nothing here reads config or the filesystem.
 *
 * Two lists: `MINIMAL` builds a bootable disk-less domain from nothing (host-setup.md
 * "Guests"); `PATCH` edits Nova's own guest XML, touching identity, `<os>` firmware and
 * `<features><smm>` only (plus a serial console when asked and none exists).
 * Elements are created in libvirt's canonical order (name, uuid, memory, vcpu, os,
 * features, cpu, on_*, devices) so output is deterministic.
 */
import type { DomainSpec } from './types';
import { child, childrenNamed, el, ensureChild, insertAfter, removeChildren, setText, textOf, type XmlElement } from './serialize';
import { loaderToXml, nvramToXml, orderOsChildren, osFirmwareFromSelection } from './model';
import { InvalidInput } from '../errors';

export type Configurator = (ctx: DomainSpec, dom: XmlElement) => void;

const X86 = new Set(['x86_64', 'i686']);

/**
 * `<domain type>`, `<name>`, `<uuid>`. Existing elements are rewritten only when they
 * differ and never move. NOTE: when Nova's base XML carries a different name or uuid, the
 * spec wins: the NVRAM path and the instance record are keyed by the spec's name, and a
 * domain defined under another name would orphan both.
 */
export const identity: Configurator = function identity(ctx, dom) {
  if (!ctx.name) throw new InvalidInput('name', 'empty domain name');
  if (dom.attrs.type !== ctx.virtType) dom.attrs.type = ctx.virtType;
  const name = ensureChild(dom, 'name');
  if (textOf(name) !== ctx.name) setText(name, ctx.name);
  const uuid = ensureChild(dom, 'uuid', ['name']);
  if (textOf(uuid) !== ctx.uuid) setText(uuid, ctx.uuid);
};

/** `<memory unit='KiB'>` (memoryMb × 1024) and `<vcpu>`. */
export const memory: Configurator = function memory(ctx, dom) {
  if (!Number.isInteger(ctx.memoryMb) || ctx.memoryMb <= 0) throw new InvalidInput('memory_mb', `must be a positive integer, got ${ctx.memoryMb}`);
  if (!Number.isInteger(ctx.vcpus) || ctx.vcpus <= 0) throw new InvalidInput('vcpus', `must be a positive integer, got ${ctx.vcpus}`);
  const mem = ensureChild(dom, 'memory', ['uuid', 'name']);
  mem.attrs = { unit: 'KiB' };
  setText(mem, String(ctx.memoryMb * 1024));
  setText(ensureChild(dom, 'vcpu', ['currentMemory', 'memory']), String(ctx.vcpus));
};

/** `<os><type arch machine>hvm</type>`. */
export const osType: Configurator = function osType(ctx, dom) {
  const os = ensureChild(dom, 'os', ['vcpu', 'memory', 'uuid', 'name']);
  const type = ensureChild(os, 'type');
  type.attrs = { ...type.attrs, arch: ctx.arch, ...(ctx.machine ? { machine: ctx.machine } : {}) };
  setText(type, 'hvm');
  orderOsChildren(os);
};

/**
 * `<os>` firmware in the explicit form (never `firmware='efi'`, see model.ts):
 * - UEFI stateful: `<loader readonly type='pflash' secure>` + `<nvram template>PATH`;
 * - UEFI stateless: same loader with `stateless='yes'`, no `<nvram>`;
 * - BIOS: no loader, no nvram and no attributes on `<os>` at all.
 * Any `firmware` attribute, `<firmware>` feature list, `<loader>` and `<nvram>` already
 * there are replaced; other `<os>` children (boot, smbios, ...) keep their order after these.
 */
export const firmware: Configurator = function firmware(ctx, dom) {
  const model = osFirmwareFromSelection(ctx.firmware, ctx.nvramPath);
  const os = ensureChild(dom, 'os', ['vcpu', 'memory', 'uuid', 'name']);
  if (ctx.firmware) delete os.attrs.firmware;
  else os.attrs = {};
  removeChildren(os, 'firmware');
  removeChildren(os, 'loader');
  removeChildren(os, 'nvram');
  if (model.loader) os.children.push(loaderToXml(model.loader));
  if (model.nvram) os.children.push(nvramToXml(model.nvram));
  orderOsChildren(os);
};

/**
 * Platform features of a minimal domain: `<acpi/>` on x86 (OVMF and modern guests expect
 * it); `<gic version='3'/>` on aarch64 (deterministic instead of libvirt's host-dependent
 * default; QEMU emulates GICv3 under TCG). Not used on a base XML, whose features stay.
 */
export const platformFeatures: Configurator = function platformFeatures(ctx, dom) {
  const feats = ensureChild(dom, 'features', ['os']);
  if (X86.has(ctx.arch) && !child(feats, 'acpi')) feats.children.push(el('acpi'));
  if (ctx.arch === 'aarch64' && !child(feats, 'gic')) feats.children.push(el('gic', { version: '3' }));
};

/**
 * Nova's SMM feature written the way libvirt reads it. Nova's `LibvirtConfigGuestFeatureSMM`
 * (26.2.2 config.py L2732, still in master) renders `<smm><smm state='on'/></smm>`, which
 * libvirt's domain.rng rejects: the nested element's state moves to the outer one (unless that
 * has its own) and the nested element goes; `<tseg>` and any other child stay.
 */
function normaliseSmm(smmEl: XmlElement): void {
  const nested = childrenNamed(smmEl, 'smm');
  if (!nested.length) return;
  const state = nested[0].attrs.state;
  if (smmEl.attrs.state === undefined && state !== undefined) smmEl.attrs = { ...smmEl.attrs, state };
  removeChildren(smmEl, 'smm');
}

/**
 * `<features><smm state='on'/>` when the firmware requires SMM (secure-boot OVMF builds;
 * libvirt refuses `secure='yes'` without it). An existing `<smm>` is switched on in place
 * (its `<tseg>` kept), after Nova's nested form is normalised (`normaliseSmm`). When SMM is
 * not required, a base XML's own `<smm>` stays (normalised), and a minimal build never gets one.
 */
export const smm: Configurator = function smm(ctx, dom) {
  const found = child(child(dom, 'features'), 'smm');
  if (found) normaliseSmm(found);
  if (!ctx.firmware?.requires_smm) return;
  const feats = ensureChild(dom, 'features', ['os']);
  if (found) found.attrs = { ...found.attrs, state: 'on' };
  else feats.children.push(el('smm', { state: 'on' }));
};

/** aarch64 needs an explicit CPU: cortex-a57 under TCG, host-passthrough under KVM. */
export const cpu: Configurator = function cpu(ctx, dom) {
  if (ctx.arch !== 'aarch64' || child(dom, 'cpu')) return;
  const made =
    ctx.virtType === 'kvm'
      ? el('cpu', { mode: 'host-passthrough' })
      : el('cpu', { mode: 'custom', match: 'exact' }, [el('model', { fallback: 'forbid' }, ['cortex-a57'])]);
  insertAfter(dom, made, ['features', 'os']);
};

/** on_poweroff=destroy, on_reboot=restart, on_crash=destroy (libvirt's defaults, spelled out). */
export const lifecycle: Configurator = function lifecycle(_ctx, dom) {
  const actions: ReadonlyArray<readonly [string, string]> = [
    ['on_poweroff', 'destroy'],
    ['on_reboot', 'restart'],
    ['on_crash', 'destroy'],
  ];
  for (const [k, v] of actions) {
    if (!child(dom, k)) insertAfter(dom, el(k, {}, [v]), ['on_reboot', 'on_poweroff', 'cpu', 'features', 'os']);
  }
};

/**
 * `<devices>`: nothing but an optional serial console on a unix socket in bind mode
 * (libvirt creates the socket; tests drive the UEFI shell through it). Emulator, controllers
 * and the rest are left to libvirt's defaults. On a base XML that already has a `<serial>`
 * or `<console>`, nothing is added (a second port-0 serial would clash with Nova's).
 */
export const devices: Configurator = function devices(ctx, dom) {
  if (!ctx.serialSocket) return;
  const devs = ensureChild(dom, 'devices');
  if (childrenNamed(devs, 'serial').length || childrenNamed(devs, 'console').length) return;
  devs.children.push(el('serial', { type: 'unix' }, [el('source', { mode: 'bind', path: ctx.serialSocket }), el('target', { port: '0' })]));
};

/** Applied in this order to build a domain from nothing. */
export const MINIMAL: readonly Configurator[] = [identity, memory, osType, firmware, platformFeatures, smm, cpu, lifecycle, devices];
/** Applied in this order to Nova's own guest XML; everything else in it stays untouched. */
export const PATCH: readonly Configurator[] = [identity, firmware, smm, devices];
