/**
 * @module hypervisor/virsh
 * Run virsh with execFile (never a shell), always against an explicit URI, quiet, with a
 * timeout. Failures go through `classifyLibvirtError`.
 */
import { execFile } from 'node:child_process';
import { classifyLibvirtError } from './libvirtErrors';

export type VirshRunner = (args: string[], timeoutMs?: number) => Promise<string>;

export function virshRunner(uri: string, virshPath = 'virsh'): VirshRunner {
  return (args, timeoutMs = 120_000) =>
    new Promise((resolve, reject) => {
      const argv = ['-c', uri, '-q', ...args];
      execFile(virshPath, argv, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, LC_ALL: 'C' } }, (err, stdout, stderr) => {
        if (err) reject(classifyLibvirtError(String(stderr || (err as Error).message), args, err));
        else resolve(String(stdout));
      });
    });
}
