/**
 * @module tempest-compat/lib/sidecars
 * Starts the sidecars the runner uses when no conf is given: two compute hosts (compute1,
 * compute2), each with its own port, state_dir and nvram_dir, a shared token and peer secret,
 * `[peer] hosts` pointing at each other, a firmware set copied into a temporary directory
 * (QEMU descriptors for x86_64, a `[firmware:aarch64]` map for aarch64) so tests can remove
 * files, and a generated tempest.conf. Implements HostControl for those sidecars. Tear-down
 * kills exactly the processes it started and removes the temporary tree.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { HostControl } from './hostControl';

export interface ManagedOptions {
  backend: 'embedded' | 'libvirt';
  repoRoot: string;
  keepTmp?: boolean;
  /** Extra `[compute-feature-enabled]` flags to set True (e.g. resize once migrations exist). */
  enableFeatures?: string[];
  log: (s: string) => void;
}

interface Host {
  name: string;
  port: number;
  confFile: string;
  logFile: string;
  base: Record<string, Record<string, string>>;
  proc: ChildProcess | null;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (a && typeof a === 'object' ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

function toIni(sections: Record<string, Record<string, string>>): string {
  return Object.entries(sections)
    .map(
      ([name, kv]) =>
        `[${name}]\n${Object.entries(kv)
          .map(([k, v]) => `${k} = ${v}`)
          .join('\n')}\n`,
    )
    .join('\n');
}

function merge(a: Record<string, Record<string, string>>, b: Record<string, Record<string, string>>): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const [s, kv] of Object.entries(a)) out[s] = { ...kv };
  for (const [s, kv] of Object.entries(b)) out[s] = { ...(out[s] ?? {}), ...kv };
  return out;
}

/** Firmware files the managed hosts use; real OVMF/AAVMF when installed, else sized placeholders. */
const FIRMWARE_FILES: Array<{ name: string; from: string; size: number }> = [
  { name: 'OVMF_CODE_4M.fd', from: '/usr/share/OVMF/OVMF_CODE_4M.fd', size: 3653632 },
  { name: 'OVMF_CODE_4M.alt.fd', from: '/usr/share/OVMF/OVMF_CODE_4M.fd', size: 3653632 },
  { name: 'OVMF_VARS_4M.fd', from: '/usr/share/OVMF/OVMF_VARS_4M.fd', size: 540672 },
  { name: 'OVMF_CODE_4M.secboot.fd', from: '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd', size: 3653632 },
  { name: 'OVMF_VARS_4M.ms.fd', from: '/usr/share/OVMF/OVMF_VARS_4M.ms.fd', size: 540672 },
  { name: 'OVMF_CODE_4M.stateless.fd', from: '/usr/share/OVMF/OVMF_CODE_4M.fd', size: 3653632 },
  { name: 'AAVMF_CODE.fd', from: '/usr/share/AAVMF/AAVMF_CODE.fd', size: 67108864 },
  { name: 'AAVMF_VARS.fd', from: '/usr/share/AAVMF/AAVMF_VARS.fd', size: 67108864 },
];

function descriptor(description: string, mapping: Record<string, unknown>, arch: string, machines: string[], features: string[]): string {
  return JSON.stringify({ description, 'interface-types': ['uefi'], mapping, targets: [{ architecture: arch, machines }], features, tags: [] }, null, 2);
}

export class ManagedSidecars implements HostControl {
  readonly root: string;
  readonly token = randomBytes(16).toString('hex');
  readonly secret = randomBytes(16).toString('hex');
  readonly firmwareDir: string;
  readonly descriptorDir: string;
  private hosts: Host[] = [];

  constructor(private readonly o: ManagedOptions) {
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), 'tempest-compat-'));
    this.firmwareDir = path.join(this.root, 'firmware');
    this.descriptorDir = path.join(this.root, 'descriptors');
  }

  private prepareFirmware(): void {
    fs.mkdirSync(this.firmwareDir, { recursive: true });
    fs.mkdirSync(this.descriptorDir, { recursive: true });
    for (const f of FIRMWARE_FILES) {
      const dst = path.join(this.firmwareDir, f.name);
      if (fs.existsSync(f.from)) fs.copyFileSync(f.from, dst);
      else fs.writeFileSync(dst, Buffer.alloc(f.size));
    }
    const fw = (n: string) => path.join(this.firmwareDir, n);
    const flash = (code: string, vars: string | null, mode = 'split') => ({
      device: 'flash',
      mode,
      executable: { filename: fw(code), format: 'raw' },
      ...(vars ? { 'nvram-template': { filename: fw(vars), format: 'raw' } } : {}),
    });
    const q35 = ['pc-q35-*'];
    const files: Record<string, string> = {
      // A stateless entry ranked first: must never be chosen for a stateful guest (bug 2122288).
      '30-edk2-x86_64-stateless.json': descriptor('stateless OVMF', flash('OVMF_CODE_4M.stateless.fd', null, 'stateless'), 'x86_64', q35, [
        'acpi-s3',
        'verbose-dynamic',
      ]),
      '40-edk2-x86_64-secure-enrolled.json': descriptor('OVMF SB+SMM, MS keys', flash('OVMF_CODE_4M.secboot.fd', 'OVMF_VARS_4M.ms.fd'), 'x86_64', q35, [
        'acpi-s3',
        'enrolled-keys',
        'requires-smm',
        'secure-boot',
        'verbose-dynamic',
      ]),
      '60-edk2-x86_64.json': descriptor(
        'OVMF',
        flash('OVMF_CODE_4M.fd', 'OVMF_VARS_4M.fd'),
        'x86_64',
        ['pc-i440fx-*', 'pc-q35-*'],
        ['acpi-s3', 'verbose-dynamic'],
      ),
      '70-edk2-x86_64-alt.json': descriptor(
        'OVMF (alternative build)',
        flash('OVMF_CODE_4M.alt.fd', 'OVMF_VARS_4M.fd'),
        'x86_64',
        ['pc-i440fx-*', 'pc-q35-*'],
        ['acpi-s3', 'verbose-dynamic'],
      ),
    };
    for (const [n, c] of Object.entries(files)) fs.writeFileSync(path.join(this.descriptorDir, n), c);
  }

  async start(): Promise<void> {
    this.prepareFirmware();
    const names = ['compute1', 'compute2'];
    const ports = [await freePort(), await freePort()];
    while (ports[1] === ports[0]) ports[1] = await freePort();
    const peerHosts = names.map((n, i) => `${n}=http://127.0.0.1:${ports[i]}`).join(',');
    const fw = (n: string) => path.join(this.firmwareDir, n);
    for (const [i, name] of names.entries()) {
      const dir = path.join(this.root, name);
      fs.mkdirSync(path.join(dir, 'state'), { recursive: true });
      fs.mkdirSync(path.join(dir, 'nvram'), { recursive: true });
      const base: Record<string, Record<string, string>> = {
        DEFAULT: { host: name, instance_name_template: 'instance-%08x' },
        api: { host: '127.0.0.1', port: String(ports[i]), auth_token: this.token },
        hypervisor: { backend: this.o.backend, state_dir: path.join(dir, 'state') },
        nvram: { nvram_dir: path.join(dir, 'nvram') },
        libvirt: { virt_type: 'qemu', hw_machine_type: 'x86_64=q35' },
        firmware: { descriptor_dirs: this.descriptorDir, secure_boot: 'true' },
        'firmware:aarch64': { loader: fw('AAVMF_CODE.fd'), nvram_template: fw('AAVMF_VARS.fd'), machines: 'virt-*,virt' },
        peer: { hosts: peerHosts, shared_secret: this.secret },
      };
      this.hosts.push({ name, port: ports[i], confFile: path.join(dir, 'sidecar.conf'), logFile: path.join(dir, 'sidecar.log'), base, proc: null });
    }
    await Promise.all(this.hosts.map((h) => this.launch(h, {})));
  }

  private async launch(h: Host, overrides: Record<string, Record<string, string>>): Promise<void> {
    fs.writeFileSync(h.confFile, toIni(merge(h.base, overrides)));
    for (let attempt = 0; ; attempt++) {
      try {
        await this.launchOnce(h);
        return;
      } catch (e) {
        // A restart may race the old socket's release; retry a few times.
        if (attempt >= 4) throw e;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  private launchOnce(h: Host): Promise<void> {
    const log = fs.openSync(h.logFile, 'a');
    const proc = spawn(process.execPath, ['--import', 'tsx', path.join(this.o.repoRoot, 'src/main.ts'), '--config-file', h.confFile], {
      cwd: this.o.repoRoot,
      stdio: ['ignore', 'pipe', log],
    });
    h.proc = proc;
    return new Promise<void>((resolve, reject) => {
      let buf = '';
      let done = false;
      const timer = setTimeout(() => finish(new Error(`sidecar ${h.name} did not log "listening" within 60 s; see ${h.logFile}`)), 60_000);
      const finish = (err?: Error) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (err) {
          if (proc.exitCode === null) proc.kill('SIGKILL');
          reject(err);
        } else resolve();
      };
      proc.stdout!.on('data', (d: Buffer) => {
        fs.appendFileSync(h.logFile, d);
        if (done) return;
        buf += d.toString('utf8');
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.includes('"msg":"listening"')) finish();
        }
      });
      proc.on('close', (code, sig) => {
        fs.closeSync(log);
        finish(new Error(`sidecar ${h.name} exited (${code ?? sig}) before listening; log:\n${tail(h.logFile, 30)}`));
      });
    });
  }

  private async stopHost(h: Host): Promise<void> {
    const p = h.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        p.kill('SIGKILL');
      }, 10_000);
      p.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      p.kill('SIGTERM');
    });
    h.proc = null;
  }

  // ---- HostControl ----
  async restart(host: string, overrides: Record<string, Record<string, string>>): Promise<void> {
    const h = this.hosts.find((x) => x.name === host);
    if (!h) throw new Error(`unknown managed host ${host}`);
    this.o.log(`  (restarting sidecar ${host}${Object.keys(overrides).length ? ` with ${JSON.stringify(overrides)}` : ''})`);
    await this.stopHost(h);
    await this.launch(h, overrides);
  }

  async hideFile(p: string): Promise<() => Promise<void>> {
    const resolved = path.resolve(p);
    if (!resolved.startsWith(this.firmwareDir + path.sep)) throw new Error(`refusing to hide ${p}: not under ${this.firmwareDir}`);
    const hidden = `${resolved}.hidden-by-test`;
    fs.renameSync(resolved, hidden);
    return async () => {
      if (fs.existsSync(hidden)) fs.renameSync(hidden, resolved);
    };
  }

  /** tempest.conf for these sidecars. */
  tempestConf(): string {
    const fw = (n: string) => path.join(this.firmwareDir, n);
    return toIni({
      compute: {
        build_interval: '0.1',
        build_timeout: '60',
        min_compute_nodes: String(this.hosts.length),
        flavor_ref: JSON.stringify({ name: 'm1.tiny', vcpus: 1, memory_mb: 512, root_gb: 1, extra_specs: {} }),
        flavor_ref_alt: JSON.stringify({ name: 'm1.small', vcpus: 2, memory_mb: 1024, root_gb: 1, extra_specs: {} }),
      },
      'compute-feature-enabled': {
        uefi_boot: 'True',
        uefi_secure_boot: 'True',
        stateless_firmware: 'True',
        rescue: 'True',
        bochs_display_support: 'False',
        firmware_reconfiguration: 'True',
        // The sidecar implements resize, cold and live migration (issue 3).
        resize: 'True',
        cold_migration: 'True',
        live_migration: 'True',
        ...Object.fromEntries((this.o.enableFeatures ?? []).map((f) => [f, 'True'])),
      },
      uefi: {
        hosts: this.hosts.map((h) => `${h.name}=http://127.0.0.1:${h.port}`).join(','),
        auth_token: this.token,
        shared_secret: this.secret,
        arch: 'x86_64',
        expected_machine: 'q35',
        expected_loader: fw('OVMF_CODE_4M.fd'),
        expected_nvram_template: fw('OVMF_VARS_4M.fd'),
        expected_secure_loader: fw('OVMF_CODE_4M.secboot.fd'),
        expected_secure_nvram_template: fw('OVMF_VARS_4M.ms.fd'),
        firmware_root: '',
        shutdown_timeout: '0',
        test_timeout: '300',
      },
    });
  }

  logsTail(lines = 20): string {
    return this.hosts.map((h) => `--- ${h.name} (${h.logFile}) ---\n${tail(h.logFile, lines)}`).join('\n');
  }

  async stop(): Promise<void> {
    await Promise.all(this.hosts.map((h) => this.stopHost(h)));
    if (!this.o.keepTmp) fs.rmSync(this.root, { recursive: true, force: true });
    else this.o.log(`kept ${this.root}`);
  }
}

function tail(file: string, n: number): string {
  try {
    return fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .slice(-n - 1)
      .join('\n');
  } catch {
    return '(no log)';
  }
}
