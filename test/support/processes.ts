/**
 * Sidecars as real processes (`node --import tsx src/main.ts --config-file F`): one per
 * "compute host", each with its own port, state_dir and nvram_dir, all on loopback. Used by
 * the multi-host and SIGKILL tests; a killed host restarts on the same port and directories.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Agent as HttpsAgent } from 'node:https';
import axios, { type AxiosInstance } from 'axios';
import { firmwareMapIni, tmpDir, firmwareTree, type FirmwareTree } from './firmwareFixture';
import { closedPort } from './loopback';

const MAIN = path.join(__dirname, '..', '..', 'src', 'main.ts');
export const TOKEN = 'proc-token-0123456789';
export const SECRET = 'proc-shared-secret';

/** A loopback port free a moment ago (for a process the test starts on it). */
export const freePort = closedPort;

export interface HostSpec {
  name: string;
  fw?: FirmwareTree;
  extra?: string;
  /** Put nvram_dir and state_dir under this directory (e.g. a small filesystem) instead of the host's own. */
  dataRoot?: string;
}

export class SidecarProcess {
  proc?: ChildProcess;
  /** Command prefix, e.g. `nsenter -t PID -m --` to run inside a libvirt host's mount namespace. */
  wrap: string[] = [];
  http: AxiosInstance;
  /** 'https' after `useTls`. */
  scheme = 'http';
  log = '';
  constructor(
    readonly name: string,
    readonly port: number,
    readonly root: string,
    readonly confFile: string,
    readonly nvramDir: string,
    readonly fw: FirmwareTree,
  ) {
    this.http = this.client();
  }

  private client(httpsAgent?: HttpsAgent): AxiosInstance {
    return axios.create({
      baseURL: this.url,
      headers: { Authorization: `Bearer ${TOKEN}` },
      validateStatus: () => true,
      timeout: 60000,
      ...(httpsAgent ? { httpsAgent } : {}),
    });
  }

  /** This host serves HTTPS (its config has [api] tls_cert_file): talk to it trusting `caFile`. */
  useTls(caFile: string): void {
    this.scheme = 'https';
    this.http = this.client(new HttpsAgent({ ca: fs.readFileSync(caFile) }));
  }

  get url(): string {
    return `${this.scheme}://127.0.0.1:${this.port}`;
  }

  /** Start (or restart) the process; `crashPoints` arms SIGKILL fault injection for this run. */
  async start(crashPoints: string[] = []): Promise<void> {
    const conf =
      fs.readFileSync(this.confFile, 'utf8').replace(/\n\[debug\][^[]*/s, '\n') +
      (crashPoints.length ? `\n[debug]\ncrash_points = ${crashPoints.join(',')}\n` : '');
    fs.writeFileSync(this.confFile, conf);
    this.log = '';
    const argv = [process.execPath, '--import', 'tsx', MAIN, '--config-file', this.confFile];
    const cmd = [...this.wrap, ...argv];
    this.proc = spawn(cmd[0], cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    const p = this.proc;
    p.stdout!.on('data', (d) => (this.log += d));
    p.stderr!.on('data', (d) => (this.log += d));
    const deadline = Date.now() + 30000;
    while (Date.now() < deadline) {
      if (p.exitCode !== null) throw new Error(`sidecar ${this.name} exited: ${this.log}`);
      if (this.log.includes('"msg":"listening"')) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`sidecar ${this.name} did not start: ${this.log}`);
  }

  /** Resolves when the process has exited (e.g. after a crash point fired). */
  async waitExit(timeoutMs = 10000): Promise<number | string | null> {
    const p = this.proc;
    if (!p) return null;
    if (p.exitCode !== null || p.signalCode !== null) return p.signalCode ?? p.exitCode;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${this.name} did not exit`)), timeoutMs);
      p.once('exit', (code, sig) => {
        clearTimeout(t);
        resolve(sig ?? code);
      });
    });
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (p && p.exitCode === null && p.signalCode === null) {
      p.kill('SIGKILL');
      await this.waitExit().catch(() => undefined);
    }
    this.proc = undefined;
  }

  /** Files in this host's NVRAM directory (live stores, stashes, staged copies). */
  nvramFiles(): string[] {
    return fs.existsSync(this.nvramDir) ? fs.readdirSync(this.nvramDir).sort() : [];
  }
}

/** Create N hosts that know each other through [peer] hosts; not started. */
export async function makeHosts(specs: HostSpec[]): Promise<{ hosts: SidecarProcess[]; root: string; cleanup: () => Promise<void> }> {
  const root = tmpDir('nus-hosts-');
  const ports = await Promise.all(specs.map(() => freePort()));
  const peers = specs.map((s, i) => `${s.name}=http://127.0.0.1:${ports[i]}`).join(',');
  const emptyDesc = path.join(root, 'no-descriptors');
  fs.mkdirSync(emptyDesc);
  const sharedFw = firmwareTree(path.join(root, 'fw'));
  const hosts = specs.map((s, i) => {
    const dir = path.join(root, s.name);
    fs.mkdirSync(dir, { mode: 0o755 });
    const fw = s.fw ?? sharedFw;
    const data = s.dataRoot ?? dir;
    const nvramDir = path.join(data, 'nvram');
    const map = firmwareMapIni(fw.map);
    const conf = `[DEFAULT]
host = ${s.name}
[api]
host = 127.0.0.1
port = ${ports[i]}
auth_token = ${TOKEN}
[hypervisor]
backend = embedded
state_dir = ${path.join(data, 'state')}
[nvram]
nvram_dir = ${nvramDir}
[libvirt]
hw_machine_type = x86_64=q35
[firmware]
descriptor_dirs = ${emptyDesc}
[peer]
hosts = ${peers}
shared_secret = ${SECRET}
timeout = 20
${s.extra ?? ''}
${map}
`;
    const confFile = path.join(dir, 'shim.conf');
    fs.writeFileSync(confFile, conf);
    return new SidecarProcess(s.name, ports[i], dir, confFile, nvramDir, fw);
  });
  return {
    hosts,
    root,
    cleanup: async () => {
      await Promise.all(hosts.map((h) => h.stop()));
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}
