/**
 * @module hypervisor/virsh
 * Run virsh with `execFile` (never a shell: domain names and paths are passed as argv, so
 * nothing is ever interpreted), always against an explicit `-c <uri>`, always `-q` (no
 * "Domain 'x' started" chatter on stdout), always with a timeout. Failures go through
 * `classifyLibvirtError`, the one place libvirt messages are mapped to kinds.
 *
 * Deliberately not here: what a failure means for an operation (see `libvirt.ts`).
 */
import { execFile } from 'node:child_process';
import { HypervisorError } from '../errors';
import { classifyLibvirtError } from './libvirtErrors';

/** Runs one virsh command (argv after `-c uri -q`) and resolves to its stdout. */
export type VirshRunner = (args: string[], timeoutMs?: number) => Promise<string>;

export const DEFAULT_VIRSH_TIMEOUT_MS = 120_000;

/** The argv virsh is called with: fixed prefix first, so the URI can never come from `args`. */
export function virshArgv(uri: string, args: readonly string[]): string[] {
  return ['-c', uri, '-q', ...args];
}

export function virshRunner(uri: string, virshPath = 'virsh'): VirshRunner {
  return function runVirsh(args, timeoutMs = DEFAULT_VIRSH_TIMEOUT_MS) {
    return new Promise((resolve, reject) => {
      execFile(
        virshPath,
        virshArgv(uri, args),
        // LC_ALL=C: libvirt translates its messages, and classification matches the English ones.
        { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024, env: { ...process.env, LC_ALL: 'C' } },
        (err, stdout, stderr) => {
          if (!err) return resolve(String(stdout));
          const e = err as NodeJS.ErrnoException & { killed?: boolean };
          if (e.code === 'ENOENT') {
            return reject(
              new HypervisorError('connect', `virsh not found at '${virshPath}' (install libvirt-clients or set [libvirt] virsh_path)`, { cause: err }),
            );
          }
          if (e.killed) {
            return reject(new HypervisorError('other', `virsh ${args.join(' ')}: no answer within ${timeoutMs} ms (killed)`, { cause: err }));
          }
          reject(classifyLibvirtError(String(stderr || e.message), args, err));
        },
      );
    });
  };
}
