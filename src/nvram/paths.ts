/**
 * @module nvram/paths
 * The one function that names an instance's variable store, and the guard that keeps every
 * NVRAM file operation inside `[nvram] nvram_dir`. libvirt names the file after the domain
 * (`<nvram_dir>/<domain-name>_VARS.fd`, `qemu_domain.c`), and so do we.
 */
import * as path from 'node:path';
import { InvalidInput } from '../errors';

/** Domain names we accept: what libvirt accepts in a file name, no separators, no leading dot. */
const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.+:-]{0,199}$/;

/** Reject a domain name that could not be a single file-name component. */
export function validateDomainName(name: string, field = 'instance name'): string {
  if (typeof name !== 'string' || !NAME_RE.test(name) || name.includes('..')) {
    throw new InvalidInput(field, `'${String(name)}' is not a valid domain name (letters, digits, _ . + : -; no path separators)`);
  }
  return name;
}

/** `<nvramDir>/<name>_VARS.fd`. The only place this name is built. */
export function nvramPathFor(nvramDir: string, name: string): string {
  validateDomainName(name);
  return assertInside(nvramDir, path.join(nvramDir, `${name}_VARS.fd`), 'nvram path');
}

/** Throw InvalidInput unless `p` resolves to a direct or nested child of `dir`. */
export function assertInside(dir: string, p: string, field: string): string {
  const base = path.resolve(dir);
  const full = path.resolve(p);
  if (full === base || !full.startsWith(base + path.sep)) {
    throw new InvalidInput(field, `'${p}' is outside ${base}`);
  }
  return full;
}
