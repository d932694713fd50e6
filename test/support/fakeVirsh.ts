/**
 * An in-memory libvirt behind the `VirshRunner` boundary: records every argv (and, for
 * `define`, the XML read from the file at call time), keeps domains with their state and
 * NVRAM flag, and fails the way libvirt 9.0 does, with its real stderr texts, through the
 * production `classifyLibvirtError`. Enough for unit tests of `LibvirtHypervisor`; it does
 * not parse XML beyond `<name>` and `<nvram>`.
 */
import * as fs from 'node:fs';
import { classifyLibvirtError } from '../../src/hypervisor/libvirtErrors';
import type { VirshRunner } from '../../src/hypervisor/virsh';

export interface FakeDomain {
  name: string;
  xml: string;
  state: 'running' | 'paused' | 'shut off' | 'in shutdown' | 'crashed' | 'pmsuspended' | 'idle';
  hasNvram: boolean;
}

export interface FakeCall {
  args: string[];
  timeoutMs?: number;
  /** For `define` / `migrate --xml`: the file's content when virsh was called. */
  fileContent?: string;
  /** Whether that file existed at call time. */
  fileExisted?: boolean;
}

export class FakeVirsh {
  readonly calls: FakeCall[] = [];
  readonly domains = new Map<string, FakeDomain>();
  /** Set to make every call fail like an unreachable daemon. */
  down = false;
  /** What `shutdown` does to a running guest: 'off' at once, or 'ignore' (UEFI shell ignores ACPI). */
  acpi: 'off' | 'ignore' = 'off';
  /** Forced answers: argv[0] -> stderr to fail with. */
  failNext = new Map<string, string>();

  readonly runner: VirshRunner = async (args, timeoutMs) => {
    const call: FakeCall = { args: [...args], timeoutMs };
    const fileArg = args[0] === 'define' ? args[1] : args[0] === 'migrate' ? args[args.indexOf('--xml') + 1] : undefined;
    if (fileArg && (args[0] === 'define' || args.includes('--xml'))) {
      call.fileExisted = fs.existsSync(fileArg);
      if (call.fileExisted) call.fileContent = fs.readFileSync(fileArg, 'utf8');
    }
    this.calls.push(call);
    return this.answer(args);
  };

  argvs(): string[][] {
    return this.calls.map((c) => c.args);
  }

  private fail(stderr: string, args: string[]): never {
    throw classifyLibvirtError(stderr, args);
  }

  private get(name: string, args: string[]): FakeDomain {
    const d = this.domains.get(name);
    if (!d) this.fail(`error: failed to get domain '${name}'\n`, args);
    return d;
  }

  private answer(args: string[]): string {
    if (this.down) {
      this.fail(
        "error: failed to connect to the hypervisor\nerror: Failed to connect socket to '/var/run/libvirt/libvirt-sock': No such file or directory\n",
        args,
      );
    }
    const forced = this.failNext.get(args[0]);
    if (forced !== undefined) {
      this.failNext.delete(args[0]);
      this.fail(forced, args);
    }
    const notRunning = (verb: string, name: string) =>
      this.fail(`error: Failed to ${verb} domain '${name}'\nerror: Requested operation is not valid: domain is not running\n`, args);
    switch (args[0]) {
      case 'version':
        return 'Compiled against library: libvirt 9.0.0\nUsing library: libvirt 9.0.0\nUsing API: QEMU 9.0.0\nRunning hypervisor: QEMU 7.2.22\n\n';
      case 'define': {
        const xml = fs.readFileSync(args[1], 'utf8');
        const name = /<name>([^<]+)<\/name>/.exec(xml)?.[1];
        if (!name) this.fail(`error: Failed to define domain from ${args[1]}\nerror: XML error: missing domain name information\n`, args);
        const prev = this.domains.get(name);
        this.domains.set(name, { name, xml, state: prev?.state ?? 'shut off', hasNvram: /<nvram\b/.test(xml) });
        return '';
      }
      case 'start': {
        const d = this.get(args[1], args);
        if (d.state !== 'shut off' && d.state !== 'crashed') this.fail('error: Domain is already active\n', args);
        d.state = args.includes('--paused') ? 'paused' : 'running';
        return '';
      }
      case 'shutdown': {
        const d = this.get(args[1], args);
        if (d.state === 'shut off') notRunning('shutdown', d.name);
        if (this.acpi === 'off') d.state = 'shut off';
        return '';
      }
      case 'destroy': {
        const d = this.get(args[1], args);
        if (d.state === 'shut off') notRunning('destroy', d.name);
        d.state = 'shut off';
        return '';
      }
      case 'reboot': {
        const d = this.get(args[1], args);
        if (d.state === 'shut off') notRunning('reboot', d.name);
        return '';
      }
      case 'undefine': {
        if (args.includes('--nvram') && args.includes('--keep-nvram')) this.fail('error: Options --nvram and --keep-nvram are mutually exclusive\n', args);
        const d = this.get(args[1], args);
        if (d.hasNvram && !args.includes('--nvram') && !args.includes('--keep-nvram')) {
          this.fail(`error: Failed to undefine domain '${d.name}'\nerror: Requested operation is not valid: cannot undefine domain with nvram\n`, args);
        }
        // A running domain becomes transient; this fake just forgets it.
        this.domains.delete(d.name);
        return '';
      }
      case 'domstate':
        return `${this.get(args[1], args).state}\n\n`;
      case 'dumpxml':
        return this.get(args[args.length - 1], args).xml;
      case 'list':
        return [...this.domains.keys()].map((n) => `${n}\n`).join('') + '\n';
      case 'migrate':
        return '';
      default:
        this.fail(`error: unknown command: '${args[0]}'\n`, args);
    }
  }
}
