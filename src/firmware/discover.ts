/**
 * @module firmware/discover
 * Detect this host's UEFI firmware once (and on refresh): the only firmware module that touches
 * the filesystem. Selection (`select.ts`) is pure over the inventory built here.
 *
 * Precedence, first match wins in this order:
 *  1. the operator's `[firmware:<arch>]` map (`operatorMap.ts`): every map entry ranks before
 *     every descriptor, even a `10-…` one, because an explicit operator choice must not be
 *     overridden by a package update;
 *  2. QEMU firmware descriptors (`descriptors.ts`), in base-name order across
 *     `descriptor_dirs` with same-name shadowing and empty-file masking (QEMU
 *     `docs/interop/firmware.json`).
 * Every entry is then validated (`entryChecks.ts`): entries with an `error` problem, and
 * descriptors whose files are missing, are left out; the rest is still served.
 */
import * as fs from 'node:fs';
import type { FirmwareMapSection } from '../config';
import type { FirmwareEntry, FirmwareInventory, FirmwareProblem } from './types';
import { operatorMapEntries } from './operatorMap';
import { descriptorEntries, listDescriptors } from './descriptors';
import { checkTemplateConsistency, validateEntry } from './entryChecks';

export interface DiscoverOptions {
  firmwareMap: Record<string, FirmwareMapSection>;
  /** Least specific first, e.g. `/usr/share/qemu/firmware`, `/etc/qemu/firmware`. */
  descriptorDirs: string[];
  /** File size, or null when absent/unreadable (tests inject; default: readable regular file). */
  statFile?: (p: string) => number | null;
}

/** Descriptor ranks start here so that any number of map entries ranks first. */
export const DESCRIPTOR_RANK_BASE = 1_000_000;

function defaultStat(p: string): number | null {
  try {
    fs.accessSync(p, fs.constants.R_OK);
    const st = fs.statSync(p);
    return st.isFile() ? st.size : null;
  } catch {
    return null;
  }
}

export function discoverFirmware(opts: DiscoverOptions): FirmwareInventory {
  const problems: FirmwareProblem[] = [];
  const sizes: Record<string, number> = {};
  const stat = opts.statFile ?? defaultStat;
  const size = (p: string): number | null => {
    if (p in sizes) return sizes[p];
    const s = stat(p);
    if (s !== null) sizes[p] = s;
    return s;
  };

  const candidates = operatorMapEntries(opts.firmwareMap, problems, 0);
  listDescriptors(opts.descriptorDirs, problems).forEach((d, i) => {
    candidates.push(...descriptorEntries(d.name, d.file, DESCRIPTOR_RANK_BASE + i, problems));
  });

  const usable: { entry: FirmwareEntry; varsSize: number | null }[] = [];
  for (const entry of candidates) {
    const check = validateEntry(entry, size);
    problems.push(...check.problems);
    if (check.usable) usable.push({ entry, varsSize: check.varsSize });
  }
  const inconsistent = checkTemplateConsistency(usable);
  problems.push(...inconsistent.values());

  const entries = usable.map((c) => c.entry).filter((e) => !inconsistent.has(e));
  entries.sort((a, b) => a.rank - b.rank);
  return { entries, problems, sizes };
}
