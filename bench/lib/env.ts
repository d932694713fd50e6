/**
 * The bench environment: machine facts, the firmware the sidecars use (the real Debian files
 * and QEMU descriptors when present, synthetic files of the same sizes otherwise), sidecars as
 * real processes (the installed entry point, `bin/nova-uefi-shim`, which runs the compiled
 * build in dist/ that `buildDist` brings up to date; stdout to a log file as a service manager
 * would take it), a keep-alive HTTP client and small file helpers.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { firmwareTree, makeFile, SIZES } from '../../test/support/firmwareFixture';

export const REPO = path.resolve(__dirname, '..', '..');
const BIN = path.join(REPO, 'bin', 'nova-uefi-shim');

/**
 * `npm run build` (incremental: quick when dist/ is current), so that every sidecar the bench
 * starts runs the compiled JavaScript of the code being measured, as an installed one does.
 */
export function buildDist(): void {
  execFileSync(process.execPath, [path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', path.join(REPO, 'tsconfig.build.json')], {
    cwd: REPO,
    stdio: 'inherit',
  });
}
export const TOKEN = 'bench-token-0123456789';
export const SECRET = 'bench-shared-secret';

// ---------------------------------------------------------------- machine

export interface MachineInfo {
  cpu_model: string;
  nproc: number;
  mem_total_gib: number;
  node: string;
  kernel: string;
  os: string;
  bench_dir: string;
  bench_dir_fs: string;
  bench_dir_device: string;
  scp: string | null;
  rsync: string | null;
  sshd: string | null;
}

function which(cmd: string): string | null {
  for (const d of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin'])) {
    const p = path.join(d, cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return null;
}

/** Filesystem type and device of the mount holding `dir` (longest mount-point prefix in /proc/mounts). */
export function fsOf(dir: string): { type: string; device: string } {
  let best = { mnt: '', type: 'unknown', device: 'unknown' };
  try {
    const real = fs.realpathSync(dir);
    for (const line of fs.readFileSync('/proc/mounts', 'utf8').split('\n')) {
      const [device, mnt, type] = line.split(' ');
      if (!mnt) continue;
      const m = mnt.replace(/\\040/g, ' ');
      if ((real === m || real.startsWith(m.endsWith('/') ? m : m + '/')) && m.length >= best.mnt.length) best = { mnt: m, type, device };
    }
  } catch {
    /* unknown */
  }
  return { type: best.type, device: best.device };
}

export function machineInfo(benchDir: string): MachineInfo {
  const cpu = /model name\s*:\s*(.*)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown';
  const f = fsOf(benchDir);
  let osName = `${os.type()} ${os.release()}`;
  try {
    osName = /PRETTY_NAME="?([^"\n]*)/.exec(fs.readFileSync('/etc/os-release', 'utf8'))?.[1] ?? osName;
  } catch {
    /* keep */
  }
  return {
    cpu_model: cpu,
    nproc: os.availableParallelism(),
    mem_total_gib: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    kernel: os.release(),
    os: osName,
    bench_dir: benchDir,
    bench_dir_fs: f.type,
    bench_dir_device: f.device,
    scp: which('scp'),
    rsync: which('rsync'),
    sshd: which('sshd'),
  };
}

// ---------------------------------------------------------------- firmware

export interface BenchFirmware {
  /** true: Debian's /usr/share/{OVMF,AAVMF} files and /usr/share/qemu/firmware descriptors. */
  real: boolean;
  descriptorDirs: string[];
  /** `[firmware:<arch>]` sections (synthetic fallback only). */
  map: Record<string, Record<string, string | boolean>>;
  /** The templates a spawn selects for each request below. */
  templates: { ovmf4m: string; ovmf4mEnrolled: string; aavmf: string; aavmfEnrolled: string };
}

const REAL = {
  descriptors: '/usr/share/qemu/firmware',
  ovmf4m: '/usr/share/OVMF/OVMF_VARS_4M.fd',
  ovmf4mEnrolled: '/usr/share/OVMF/OVMF_VARS_4M.ms.fd',
  aavmf: '/usr/share/AAVMF/AAVMF_VARS.fd',
  aavmfEnrolled: '/usr/share/AAVMF/AAVMF_VARS.ms.fd',
  files: [
    '/usr/share/qemu/firmware/60-edk2-x86_64.json',
    '/usr/share/qemu/firmware/40-edk2-x86_64-secure-enrolled.json',
    '/usr/share/qemu/firmware/60-edk2-aarch64.json',
    '/usr/share/qemu/firmware/40-edk2-aarch64-secure-enrolled.json',
    '/usr/share/OVMF/OVMF_CODE_4M.fd',
    '/usr/share/OVMF/OVMF_CODE_4M.ms.fd',
    '/usr/share/AAVMF/AAVMF_CODE.fd',
    '/usr/share/AAVMF/AAVMF_CODE.ms.fd',
  ],
};

export function benchFirmware(root: string): BenchFirmware {
  const need = [...REAL.files, REAL.ovmf4m, REAL.ovmf4mEnrolled, REAL.aavmf, REAL.aavmfEnrolled];
  if (need.every((f) => fs.existsSync(f))) {
    return {
      real: true,
      descriptorDirs: [REAL.descriptors],
      map: {},
      templates: { ovmf4m: REAL.ovmf4m, ovmf4mEnrolled: REAL.ovmf4mEnrolled, aavmf: REAL.aavmf, aavmfEnrolled: REAL.aavmfEnrolled },
    };
  }
  // Synthetic: same sizes; the enrolled aarch64 store gets 768 KiB of data like Debian's.
  const dir = path.join(root, 'fw');
  const tree = firmwareTree(dir);
  const aaSecVars = path.join(dir, 'AAVMF_VARS.ms.fd');
  const fd = fs.openSync(aaSecVars, 'w');
  fs.ftruncateSync(fd, SIZES.aavmf);
  fs.writeSync(fd, Buffer.alloc(768 * 1024, 0xff), 0, 768 * 1024, 0);
  fs.closeSync(fd);
  const aaSecCode = makeFile(path.join(dir, 'AAVMF_CODE.ms.fd'), SIZES.aavmf, 0, 'AASECCODE');
  tree.map['firmware:aarch64'] = {
    ...tree.map['firmware:aarch64'],
    secure_loader: aaSecCode,
    secure_nvram_template: aaSecVars,
    secure_requires_smm: false,
    secure_enrolled_keys: true,
  };
  const empty = path.join(root, 'no-descriptors');
  fs.mkdirSync(empty, { recursive: true });
  return {
    real: false,
    descriptorDirs: [empty],
    map: tree.map,
    templates: { ovmf4m: tree.files.vars, ovmf4mEnrolled: tree.files.secVars, aavmf: tree.files.aaVars, aavmfEnrolled: aaSecVars },
  };
}

/** Image metadata for the four kinds of guest the bench spawns. */
export const IMAGES = {
  x86: { properties: { hw_firmware_type: 'uefi', hw_machine_type: 'q35' } },
  x86Enrolled: { properties: { hw_firmware_type: 'uefi', hw_machine_type: 'q35', os_secure_boot: 'required' } },
  aarch64: { properties: { hw_architecture: 'aarch64', hw_machine_type: 'virt' } },
  aarch64Enrolled: { properties: { hw_architecture: 'aarch64', hw_machine_type: 'virt', os_secure_boot: 'required' } },
} as const;

let nextId = 0x1000;
export function newInstance(host: string) {
  return { uuid: randomUUID(), id: nextId++, host, vcpus: 1, memory_mb: 256, flavor: { name: 'small', vcpus: 1, memory_mb: 256, extra_specs: {} } };
}
export type Inst = ReturnType<typeof newInstance>;

export function instanceName(inst: Inst): string {
  return `instance-${inst.id.toString(16).padStart(8, '0')}`;
}

// ---------------------------------------------------------------- HTTP

// Idle keep-alive sockets are dropped after 4 s, before node servers' 5 s keepAliveTimeout can
// close one just as a request is written on it ("socket hang up").
export const agent = new http.Agent({ keepAlive: true, maxSockets: 256, timeout: 4000 });

export interface Reply {
  status: number;
  body: Buffer;
  json<T = any>(): T; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/**
 * One HTTP request on the shared keep-alive agent. A request written on a reused idle socket
 * that the server closed at that moment fails with ECONNRESET / "socket hang up" before the
 * server read it; it is sent once more on a new socket (the retry node's docs recommend).
 */
export async function request(url: string, method = 'GET', body?: Buffer | string | object, headers: Record<string, string> = {}): Promise<Reply> {
  try {
    return await requestOnce(url, method, body, headers);
  } catch (e) {
    if (!(e as { reusedSocket?: boolean }).reusedSocket) throw e;
    return requestOnce(url, method, body, headers);
  }
}

function requestOnce(url: string, method: string, body?: Buffer | string | object, headers: Record<string, string> = {}): Promise<Reply> {
  const u = new URL(url);
  let data: Buffer | undefined;
  const h: Record<string, string | number> = { ...headers };
  if (body !== undefined) {
    if (Buffer.isBuffer(body)) data = body;
    else if (typeof body === 'string') data = Buffer.from(body);
    else {
      data = Buffer.from(JSON.stringify(body));
      h['content-type'] ??= 'application/json';
    }
    h['content-length'] = data.length;
  }
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers: h, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const b = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, body: b, json: () => JSON.parse(b.toString('utf8')) });
      });
      res.on('error', reject);
    });
    req.on('error', (e: NodeJS.ErrnoException) => {
      const idleClosed = req.reusedSocket && (e.code === 'ECONNRESET' || e.message === 'socket hang up');
      reject(idleClosed ? Object.assign(e, { reusedSocket: true }) : e);
    });
    req.end(data);
  });
}

import { freePort } from '../../test/support/processes';
export { freePort };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll GET url every `everyMs` until it answers 200; returns ms since `since` (performance.now()). */
export async function waitHealthy(url: string, since: number, child?: ChildProcess, logFile?: string, timeoutMs = 60000, everyMs = 2): Promise<number> {
  const deadline = since + timeoutMs;
  for (;;) {
    if (child && child.exitCode !== null) throw new Error(`process exited ${child.exitCode}: ${logFile ? tail(logFile) : ''}`);
    try {
      const r = await request(url);
      if (r.status === 200) return performance.now() - since;
    } catch {
      /* not yet */
    }
    if (performance.now() > deadline) throw new Error(`${url} did not answer: ${logFile ? tail(logFile) : ''}`);
    await sleep(everyMs);
  }
}

function tail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').slice(-2000);
  } catch {
    return '';
  }
}

// ---------------------------------------------------------------- processes

export interface ProcMem {
  rssKiB: number;
  hwmKiB: number;
}

export function procMem(pid: number): ProcMem {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN);
  return { rssKiB: kib('VmRSS'), hwmKiB: kib('VmHWM') };
}

let clkTck = 0;
/** CPU time a process (all its threads) has used so far, in ms, user and system. */
export function procCpuMs(pid: number): { user: number; system: number } {
  if (!clkTck) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return { user: (Number(f[11]) * 1000) / clkTck, system: (Number(f[12]) * 1000) / clkTck };
}

/** A child process that ends with the bench (SIGKILL on stop). */
export class Proc {
  child?: ChildProcess;
  constructor(
    readonly name: string,
    readonly argv: string[],
    readonly logFile: string,
    readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  start(): ChildProcess {
    const out = fs.openSync(this.logFile, 'a');
    this.child = spawn(this.argv[0], this.argv.slice(1), { stdio: ['ignore', out, out], env: this.env, cwd: REPO });
    fs.closeSync(out);
    live.add(this);
    return this.child;
  }

  get pid(): number {
    if (!this.child?.pid) throw new Error(`${this.name} not running`);
    return this.child.pid;
  }

  async stop(): Promise<void> {
    const c = this.child;
    this.child = undefined;
    live.delete(this);
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGKILL');
    });
  }
}

const live = new Set<Proc>();
/** Kill every child this bench started (on exit or error). */
export function killAll(): void {
  for (const p of live) p.child?.kill('SIGKILL');
  live.clear();
}
process.on('exit', killAll);

export interface SidecarSpec {
  name: string;
  dir: string;
  fw: BenchFirmware;
  port?: number;
  peers?: Record<string, string>;
  /** Appended to the generated conf file (e.g. `[secure_boot_keyset:<name>]` sections). */
  extraConf?: string;
  /** More `[api]` options, e.g. `{ metrics_enabled: 'false' }`. */
  api?: Record<string, string>;
}

/** A sidecar as a real process with its own conf file, state_dir and nvram_dir. */
export class SidecarProc extends Proc {
  readonly port: number;
  readonly stateDir: string;
  readonly nvramDir: string;
  readonly confFile: string;

  private constructor(
    readonly spec: SidecarSpec,
    port: number,
  ) {
    const conf = path.join(spec.dir, 'shim.conf');
    super(spec.name, [process.execPath, BIN, '--config-file', conf], path.join(spec.dir, 'sidecar.log'));
    this.port = port;
    this.confFile = conf;
    this.stateDir = path.join(spec.dir, 'state');
    this.nvramDir = path.join(spec.dir, 'nvram');
  }

  static async create(spec: SidecarSpec): Promise<SidecarProc> {
    fs.mkdirSync(spec.dir, { recursive: true, mode: 0o755 });
    const sc = new SidecarProc(spec, spec.port ?? (await freePort()));
    sc.writeConf();
    return sc;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  private writeConf(): void {
    const s = this.spec;
    const map = Object.entries(s.fw.map)
      .map(
        ([sec, kv]) =>
          `[${sec}]\n` +
          Object.entries(kv)
            .map(([k, v]) => `${k} = ${v}`)
            .join('\n'),
      )
      .join('\n');
    const peers = s.peers
      ? Object.entries(s.peers)
          .map(([n, u]) => `${n}=${u}`)
          .join(',')
      : '';
    fs.writeFileSync(
      this.confFile,
      `[DEFAULT]
host = ${s.name}
[api]
host = 127.0.0.1
port = ${this.port}
auth_token = ${TOKEN}
${Object.entries(s.api ?? {})
  .map(([k, v]) => `${k} = ${v}\n`)
  .join('')}[hypervisor]
backend = embedded
state_dir = ${this.stateDir}
[nvram]
nvram_dir = ${this.nvramDir}
[libvirt]
hw_machine_type = x86_64=q35,aarch64=virt
[firmware]
descriptor_dirs = ${s.fw.descriptorDirs.join(',')}
${peers ? `[peer]\nhosts = ${peers}\nshared_secret = ${SECRET}\ntimeout = 120\n` : ''}
${map}
${s.extraConf ?? ''}
`,
    );
  }

  /** Start and wait until /healthz answers; returns the start-up time in ms. */
  async startAndWait(): Promise<number> {
    const t = performance.now();
    const child = this.start();
    return waitHealthy(`${this.url}/healthz`, t, child, this.logFile);
  }

  call(method: string, p: string, body?: object): Promise<Reply> {
    return request(this.url + p, method, body, { authorization: `Bearer ${TOKEN}` });
  }

  /** POST /v1/instances/<uuid>/<method>, throwing unless 200. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- callers read the answer's fields freely
  async nova(uuid: string, method: string, body: object): Promise<any> {
    const r = await this.call('POST', `/v1/instances/${uuid}/${method}`, body);
    if (r.status !== 200) throw new Error(`${this.name} ${method} ${uuid}: ${r.status} ${r.body.toString().slice(0, 500)}`);
    return r.json();
  }
}

/** A helper process running a TypeScript file under bench/ (bare servers). */
export function tsProc(name: string, file: string, args: string[], logFile: string): Proc {
  return new Proc(name, [process.execPath, '--import', 'tsx', path.join(REPO, 'bench', file), ...args], logFile);
}

// ---------------------------------------------------------------- files

export function tmpRoot(prefix = 'nus-bench-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(d, 0o755);
  return d;
}

export function allocated(file: string): number {
  return fs.statSync(file).blocks * 512;
}

/** Drop every file in `dir` (not the directory). */
export function emptyDir(dir: string): void {
  for (const n of fs.readdirSync(dir)) fs.rmSync(path.join(dir, n), { recursive: true, force: true });
}
