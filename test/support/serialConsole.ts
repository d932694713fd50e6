/**
 * Drive OVMF's UEFI shell over a guest serial console on a unix socket (libvirt binds it):
 * skip the startup.nsh countdown with ESC, wait for `Shell>`, type slowly (the console drops
 * fast input), read answers. Used to write and read real UEFI variables.
 */
import * as net from 'node:net';

export class SerialConsole {
  private buf = '';
  private constructor(private readonly sock: net.Socket) {
    sock.on('data', (d) => (this.buf += d.toString('latin1')));
  }

  static async connect(path: string, timeoutMs = 30000): Promise<SerialConsole> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const s = await new Promise<net.Socket>((resolve, reject) => {
          const c = net.createConnection(path, () => resolve(c));
          c.once('error', reject);
        });
        return new SerialConsole(s);
      } catch (e) {
        if (Date.now() > deadline) throw e;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  /** Output with ANSI escape sequences removed. */
  text(): string {
    // eslint-disable-next-line no-control-regex
    return this.buf.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
  }

  async waitFor(re: RegExp, timeoutMs: number, from = 0): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const t = this.text().slice(from);
      if (re.test(t)) return t;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`serial console: ${re} not seen within ${timeoutMs} ms; last output: ${JSON.stringify(this.text().slice(-400))}`);
  }

  mark(): number {
    return this.text().length;
  }

  async type(line: string): Promise<void> {
    for (const ch of line) {
      this.sock.write(ch);
      await new Promise((r) => setTimeout(r, 25));
    }
    this.sock.write('\r');
  }

  /** Boot to the UEFI shell prompt (ESC skips startup.nsh). */
  async toShell(timeoutMs = 120000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const t = this.text();
      if (/Shell>\s*$/.test(t.trimEnd() + ' ') || /Shell> ?$/.test(t)) return;
      if (/Press ESC in \d+ seconds/.test(t.slice(-200))) this.sock.write('\x1b');
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`no UEFI shell prompt within ${timeoutMs} ms; last output: ${JSON.stringify(this.text().slice(-400))}`);
  }

  /** Run a shell command and return what it printed up to the next prompt. */
  async run(cmd: string, timeoutMs = 30000): Promise<string> {
    const at = this.mark();
    await this.type(cmd);
    const out = await this.waitFor(/Shell> ?$/, timeoutMs, at + cmd.length);
    return out;
  }

  close(): void {
    this.sock.destroy();
  }
}
