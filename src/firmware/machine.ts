/**
 * @module firmware/machine
 * Machine-type and architecture vocabulary shared by discovery and selection: fnmatch-style
 * globs as used in QEMU descriptor `targets[].machines`, alias canonicalisation, the x86
 * family test and this host's Nova architecture name. Pure; reads only `process.arch`.
 * Deliberately does not ask QEMU for its machine list: aliases are matched against a
 * representative versioned name instead (see `machineMatches`).
 */

/** fnmatch-style glob (`*`, `?`, `[...]`, `[!...]`), anchored at both ends like Python's `fnmatch`. */
export function globMatch(glob: string, s: string): boolean {
  let re = '^';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const j = glob.indexOf(']', i + 1);
      if (j < 0) re += '\\[';
      else {
        let body = glob.slice(i + 1, j);
        if (body.startsWith('!')) body = '^' + body.slice(1);
        re += `[${body.replace(/\\/g, '\\\\')}]`;
        i = j;
      }
    } else re += c.replace(/[.+^${}()|\\/]/g, '\\$&');
  }
  return new RegExp(re + '$').test(s);
}

/**
 * Machine aliases and the versioned prefix they resolve to. Descriptors list versioned globs
 * (`pc-q35-*`) that are matched against concrete machine types, so an alias is canonicalised
 * first (firmware.json: "canonicalise q35 → pc-q35-7.2"; Nova's `Host.get_loader` does the same).
 */
export const MACHINE_ALIASES: Readonly<Record<string, string>> = { q35: 'pc-q35-', pc: 'pc-i440fx-', virt: 'virt-' };

/** A version no real QEMU has yet, so the test does not depend on this host's QEMU. */
const ALIAS_PROBE_VERSION = '99.0';

/** Whether any glob serves `machine`; an alias matches when a glob matches `<prefix><some version>`. */
export function machineMatches(globs: readonly string[], machine: string): boolean {
  const prefix = MACHINE_ALIASES[machine];
  const concrete = prefix ? `${prefix}${ALIAS_PROBE_VERSION}` : machine;
  return globs.some((g) => globMatch(g, concrete) || globMatch(g, machine));
}

/** x86 guests need q35 and SMM for Secure Boot (Nova's `'q35' in machine_type` test). */
export function isX86(arch: string): boolean {
  return arch === 'x86_64' || arch === 'i686';
}

/** Nova architecture name of this host: x64 → x86_64, arm64 → aarch64, ia32 → i686, else `process.arch`. */
export function hostArch(arch: string = process.arch): string {
  const map: Record<string, string> = { x64: 'x86_64', arm64: 'aarch64', ia32: 'i686' };
  return map[arch] ?? arch;
}
