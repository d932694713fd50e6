/**
 * A real libvirt "host" for tests: the system libvirtd (started here when not running, the
 * way host-setup.md shows for a machine without systemd). `libvirtAvailable()` says why not
 * when it cannot be had, so tests skip with a reason instead of failing on machines without
 * the Debian packages.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';

export const SYSTEM_URI = 'qemu:///system';

function answers(uri: string): boolean {
  return spawnSync('virsh', ['-c', uri, '-q', 'version'], { timeout: 15000 }).status === 0;
}

/** Start virtlogd + libvirtd if needed; resolves to null when usable, or the reason it is not. */
export async function libvirtAvailable(): Promise<string | null> {
  if (process.getuid?.() !== 0) return 'not root';
  for (const f of ['/usr/sbin/libvirtd', '/usr/sbin/virtlogd', '/usr/bin/virsh', '/usr/bin/qemu-system-x86_64', '/usr/share/OVMF/OVMF_CODE_4M.fd']) {
    if (!fs.existsSync(f)) return `${f} missing (install libvirt-daemon-system, qemu-system-x86, ovmf)`;
  }
  if (answers(SYSTEM_URI)) return null;
  const running = (name: string) => spawnSync('pgrep', ['-x', name]).status === 0;
  if (!running('virtlogd')) execFileSync('/usr/sbin/virtlogd', ['-d']);
  if (!running('libvirtd')) execFileSync('/usr/sbin/libvirtd', ['-d']);
  const deadline = Date.now() + 90_000; // first answer takes 8-11 s while capabilities are probed
  while (Date.now() < deadline) {
    if (answers(SYSTEM_URI)) return null;
    await new Promise((r) => setTimeout(r, 1000));
  }
  return 'libvirtd did not answer within 90 s';
}

export function virsh(...args: string[]): string {
  return execFileSync('virsh', ['-c', SYSTEM_URI, '-q', ...args], { encoding: 'utf8', timeout: 60000, stdio: ['ignore', 'pipe', 'pipe'] });
}
