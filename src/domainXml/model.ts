/**
 * @module domainXml/model
 * The firmware part of a domain in libvirt's own names (`loader`, `nvram`, `template`,
 * `readonly`, `secure`, `stateless`, `smm`), with yes/no conversion in one function and a
 * fixed child order inside `<os>`: type, loader, nvram, then whatever else was there.
 */
import type { FirmwareSelection } from '../firmware/types';

/** libvirt's boolean attribute form. The only place true/false become yes/no. */
export function yesNo(v: boolean): 'yes' | 'no' {
  return v ? 'yes' : 'no';
}

export interface OsFirmwareModel {
  loader?: { path: string; readonly: 'yes'; type: 'pflash'; secure: 'yes' | 'no'; stateless?: 'yes' };
  nvram?: { path: string; template: string };
  smm: boolean;
}

/** What `<os>` and `<features>` must say for a selection (null = BIOS). */
export function osFirmwareModel(fw: FirmwareSelection | null, nvramPath: string | null): OsFirmwareModel {
  if (!fw) return { smm: false };
  const model: OsFirmwareModel = {
    loader: { path: fw.loader, readonly: 'yes', type: 'pflash', secure: yesNo(fw.secure), ...(fw.stateless ? { stateless: 'yes' as const } : {}) },
    smm: fw.requires_smm,
  };
  if (!fw.stateless && nvramPath && fw.nvram_template) model.nvram = { path: nvramPath, template: fw.nvram_template };
  return model;
}

/** Order of `<os>` children libvirt itself writes; unknown ones keep their relative order after these. */
export const OS_CHILD_ORDER = ['type', 'firmware', 'loader', 'nvram'] as const;
