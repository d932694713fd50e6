/**
 * @module hypervisor/libvirtErrors
 * The one place where libvirt's and virsh's messages become typed `HypervisorError`s, so
 * callers branch on `kind` and never match strings. The patterns are the texts libvirt 9.0
 * prints (`virerror.c`, `qemu_driver.c`, `virsh-domain.c`), as seen on Debian 12 through
 * `virsh -q`; the unit test holds the real messages.
 *
 * Deliberately not here: deciding which kinds are harmless for an operation (that is the
 * caller's business, e.g. `destroy` accepts `not-running`).
 */
import { HypervisorError } from '../errors';

export type LibvirtErrorKind = 'no-domain' | 'not-running' | 'already-running' | 'operation-invalid' | 'connect' | 'nvram' | 'other';

/** First match wins: specific texts before libvirt's generic "Requested operation is not valid" prefix. */
const RULES: readonly (readonly [RegExp, LibvirtErrorKind])[] = [
  // virConnectOpen failed: "failed to connect to the hypervisor" (+ the socket's errno on the next line).
  [/failed to connect to the hypervisor|failed to connect socket to|end of file while reading data|cannot recv data|connection reset by peer/i, 'connect'],
  // virsh's lookup helper ("failed to get domain 'x'") and VIR_ERR_NO_DOMAIN ("Domain not found: ...").
  [/failed to get domain|domain not found|no domain with matching (name|uuid|id)/i, 'no-domain'],
  // qemu_driver.c (undefine) and virsh's own option check.
  [/cannot undefine domain with nvram|cannot both keep and delete nvram|options --nvram and --keep-nvram are mutually exclusive/i, 'nvram'],
  // "Requested operation is not valid: domain is not running" (destroy, shutdown, reboot, suspend ...).
  [/domain is not running/i, 'not-running'],
  // virsh start: "Domain is already active"; driver: "domain is already running" / "domain 'x' is already active".
  [/(domain|domain '[^']*') is already (active|running)/i, 'already-running'],
  [/requested operation is not valid|operation invalid/i, 'operation-invalid'],
];

export function classifyLibvirtMessage(msg: string): LibvirtErrorKind {
  for (const [re, kind] of RULES) if (re.test(msg)) return kind;
  return 'other';
}

/** libvirt's message without virsh's `error: ` prefixes, one line. */
export function libvirtMessage(stderr: string): string {
  return stderr
    .split('\n')
    .map((l) => l.replace(/^error:\s*/i, '').trim())
    .filter(Boolean)
    .join('; ');
}

/**
 * The typed error for a failed virsh call. The message names the virsh command (its
 * arguments are domain names, flags, URIs and temp-file paths: nothing secret) and
 * libvirt's own words.
 */
export function classifyLibvirtError(stderr: string, args: readonly string[], cause?: unknown): HypervisorError {
  const msg = libvirtMessage(stderr);
  return new HypervisorError(classifyLibvirtMessage(msg), `virsh ${args.join(' ')}: ${msg || 'failed without a message'}`, { cause });
}
