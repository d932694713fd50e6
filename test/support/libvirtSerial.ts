/**
 * A guest's serial console on a unix socket that libvirt binds
 * (`<serial type='unix'><source mode='bind' path='SOCK'/></serial>`), driven the way
 * host-setup.md found OVMF's UEFI shell needs: send ESC when "Press ESC in N seconds"
 * appears (skips startup.nsh), type one character every ~20 ms (the console drops fast
 * input) and end lines with `\r`. Everything waits with a bounded timeout and fails with
 * the tail of what the guest printed.
 */
import * as net from 'node:net';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** OVMF's shell prompt, after ANSI sequences are stripped. */
export const SHELL_PROMPT = /Shell> ?$/;
export const UEFI_SHELL_BANNER = /UEFI Interactive Shell|Shell>/;

export class LibvirtSerial {
  private raw = '';
  private closed = false;

  private constructor(private readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => {
      this.raw += d.toString('latin1');
    });
    sock.on('close', () => {
      this.closed = true;
    });
    sock.on('error', () => {
      this.closed = true;
    });
  }

  /** Connect, retrying while libvirt/QEMU have not created the socket yet. */
  static async connect(sockPath: string, timeoutMs = 30_000): Promise<LibvirtSerial> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const s = await new Promise<net.Socket>((resolve, reject) => {
          const c = net.createConnection(sockPath, () => {
            c.off('error', reject);
            resolve(c);
          });
          c.once('error', reject);
        });
        return new LibvirtSerial(s);
      } catch (e) {
        if (Date.now() > deadline) throw new Error(`serial: cannot connect to ${sockPath} within ${timeoutMs} ms: ${(e as Error).message}`);
        await sleep(200);
      }
    }
  }

  /** All output so far, ANSI escape sequences and NULs removed. */
  text(): string {
    // eslint-disable-next-line no-control-regex
    return this.raw.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\x1b[()][0-9A-Za-z]/g, '').replace(/\0/g, '');
  }

  /** Position to pass as `from` so a later wait only looks at newer output. */
  mark(): number {
    return this.text().length;
  }

  /**
   * Wait until `re` matches the output after `from`. While waiting, answer OVMF's
   * "Press ESC in N seconds" countdown with ESC (once per countdown line seen).
   */
  async waitFor(re: RegExp, timeoutMs: number, from = 0): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let escAt = -1;
    for (;;) {
      const t = this.text();
      const tail = t.slice(from);
      if (re.test(tail)) return tail;
      const esc = t.lastIndexOf('Press ESC in');
      if (esc > escAt && esc >= from) {
        escAt = esc;
        this.sock.write('\x1b');
      }
      if (this.closed) throw new Error(`serial: console closed while waiting for ${re}; last output: ${JSON.stringify(t.slice(-400))}`);
      if (Date.now() > deadline) throw new Error(`serial: ${re} not seen within ${timeoutMs} ms; last output: ${JSON.stringify(t.slice(-400))}`);
      await sleep(100);
    }
  }

  /** Boot to OVMF's UEFI shell prompt (skipping the startup.nsh countdown). Returns ms taken. */
  async waitForShell(timeoutMs = 60_000): Promise<number> {
    const t0 = Date.now();
    await this.waitFor(SHELL_PROMPT, timeoutMs);
    return Date.now() - t0;
  }

  /**
   * For a console connected to a guest already sitting in the shell (after a migration, a
   * reconnect): press Enter and wait for a fresh prompt, so the next command's first
   * characters are not lost.
   */
  async attachToShell(timeoutMs = 15_000): Promise<void> {
    const at = this.mark();
    this.sock.write('\r');
    await this.waitFor(SHELL_PROMPT, timeoutMs, at);
  }

  /** Type `text` one character at a time (`gapMs` apart), then `\r`. */
  async type(text: string, gapMs = 20): Promise<void> {
    for (const ch of text) {
      this.sock.write(ch);
      await sleep(gapMs);
    }
    this.sock.write('\r');
  }

  /** Run one shell command and return what it printed up to the next prompt (the echo included). */
  async run(cmd: string, timeoutMs = 30_000): Promise<string> {
    const at = this.mark();
    await this.type(cmd);
    const out = await this.waitFor(SHELL_PROMPT, timeoutMs, at + cmd.length);
    return out.replace(SHELL_PROMPT, '');
  }

  close(): void {
    this.sock.destroy();
  }
}

/** The UEFI shell command writing a non-volatile, boot-service string variable (UTF-16 `L"..."`). */
export function setvarCommand(name: string, guid: string, value: string): string {
  return `setvar ${name} -guid ${guid} -nv -bs =L"${value}"`;
}

export function dmpstoreCommand(name: string, guid: string): string {
  return `dmpstore ${name} -guid ${guid}`;
}
