/**
 * @module hypervisor/libvirtErrors
 * The one place libvirt's messages become typed errors, so callers never match strings.
 * Message texts are libvirt 9.0's (`virerror.c`, `qemu_driver.c`).
 */
import { HypervisorError } from '../errors';

export type LibvirtErrorKind = 'no-domain' | 'not-running' | 'already-running' | 'operation-invalid' | 'connect' | 'nvram' | 'other';

const RULES: [RegExp, LibvirtErrorKind][] = [
  [/failed to get domain|domain not found|no domain with matching (name|uuid)/i, 'no-domain'],
  [/domain is not running|is not running/i, 'not-running'],
  [/domain is already (running|active)|already running/i, 'already-running'],
  [/cannot undefine domain with nvram|cannot both keep and delete nvram/i, 'nvram'],
  [/failed to connect to the hypervisor|cannot recv data|connection (refused|reset)|no such file or directory.*libvirt-sock|end of file while reading data/i, 'connect'],
  [/requested operation is not valid|operation invalid/i, 'operation-invalid'],
];

export function classifyLibvirtMessage(msg: string): LibvirtErrorKind {
  for (const [re, kind] of RULES) if (re.test(msg)) return kind;
  return 'other';
}

/** Build the typed error for a failed virsh call: the command (no secrets) and libvirt's own words. */
export function classifyLibvirtError(stderr: string, args: string[], cause?: unknown): HypervisorError {
  const msg = stderr.replace(/^error:\s*/gim, '').trim().split('\n').filter(Boolean).join('; ');
  const kind = classifyLibvirtMessage(msg);
  return new HypervisorError(kind, `virsh ${args.filter((a) => !a.startsWith('/tmp/')).join(' ')}: ${msg || 'failed'}`, { cause });
}
