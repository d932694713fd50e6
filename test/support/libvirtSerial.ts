/**
 * A guest's serial console on a unix socket that libvirt binds
 * (`<serial type='unix'><source mode='bind' path='SOCK'/></serial>`), driven the way
 * host-setup.md found OVMF's UEFI shell needs: send ESC when "Press ESC in N seconds"
 * appears (skips startup.nsh), type one character every ~20 ms (the console drops fast
 * input) and end lines with `\r`. Everything waits with a bounded timeout and fails with
 * the tail of what the guest printed.
 *
 * Commands are typed reliably: `run` checks that the shell echoed exactly what was typed
 * before pressing Enter; a line with a lost or doubled character is cleared (ESC, as the
 * shell's line editor does) and typed again. Every console's output is kept in
 * `LibvirtSerial.transcripts` so a failing test can print what the guest showed.
 */
import * as net from 'node:net';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** OVMF's shell prompt, after ANSI sequences are stripped. */
export const SHELL_PROMPT = /Shell> ?$/;
export const UEFI_SHELL_BANNER = /UEFI Interactive Shell|Shell>/;

export class LibvirtSerial {
  private raw = '';
  private closed = false;

  /** Output of every console opened in this process, by socket path (newest connection last). */
  static readonly transcripts = new Map<string, string>();

  private constructor(
    private readonly sock: net.Socket,
    readonly path: string,
  ) {
    LibvirtSerial.transcripts.delete(path);
    sock.on('data', (d: Buffer) => {
      this.raw += d.toString('latin1');
      LibvirtSerial.transcripts.set(path, this.raw);
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
        return new LibvirtSerial(s, sockPath);
      } catch (e) {
        if (Date.now() > deadline) throw new Error(`serial: cannot connect to ${sockPath} within ${timeoutMs} ms: ${(e as Error).message}`, { cause: e });
        await sleep(200);
      }
    }
  }

  /** Output with ANSI escape sequences and NULs removed. */
  static clean(raw: string): string {
    /* eslint-disable no-control-regex -- ANSI escape sequences start with ESC (0x1b) */
    return raw
      .replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')
      .replace(/\x1b[()][0-9A-Za-z]/g, '')
      .replace(/\0/g, '');
    /* eslint-enable no-control-regex */
  }

  /** What the last console on `sockPath` received, cleaned, for failure reports ('' when none). */
  static transcript(sockPath: string): string {
    return LibvirtSerial.clean(LibvirtSerial.transcripts.get(sockPath) ?? '');
  }

  /** All output so far, ANSI escape sequences and NULs removed. */
  text(): string {
    return LibvirtSerial.clean(this.raw);
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

  /** Type `text` one character at a time (`gapMs` apart), then `\r` unless `enter` is false. */
  async type(text: string, gapMs = 20, enter = true): Promise<void> {
    for (const ch of text) {
      this.sock.write(ch);
      await sleep(gapMs);
    }
    if (enter) this.sock.write('\r');
  }

  /**
   * Run one shell command and return what it printed up to the next prompt (the echo
   * included). The typed line is checked against the shell's echo before Enter; a garbled
   * line is cleared with ESC and typed again (up to `attempts` times).
   */
  async run(cmd: string, timeoutMs = 30_000, attempts = 3): Promise<string> {
    for (let attempt = 1; ; attempt++) {
      const at = this.mark();
      await this.type(cmd, 20, false);
      const echoed = await this.waitEcho(cmd, at, 3000);
      if (!echoed) {
        if (attempt >= attempts)
          throw new Error(
            `serial: the shell did not echo ${JSON.stringify(cmd)} after ${attempts} attempts; last output: ${JSON.stringify(this.text().slice(-400))}`,
          );
        this.sock.write('\x1b');
        await sleep(300);
        continue;
      }
      const enterAt = this.mark();
      this.sock.write('\r');
      const out = await this.waitFor(SHELL_PROMPT, timeoutMs, enterAt);
      return cmd + out.replace(SHELL_PROMPT, '');
    }
  }

  /**
   * `dmpstore NAME -guid GUID`, run again (it only reads) when the dump came back shorter than
   * its DataSize: QEMU's 16550 drops a byte after a few failed writes to a slow socket reader
   * (MAX_XMIT_RETRY), which happens on a loaded 2-CPU host; when the dropped byte was part of
   * the prompt, Enter brings a fresh one. Returns the last output.
   */
  async dmpstore(name: string, guid: string, attempts = 5): Promise<string> {
    let out = '';
    for (let i = 0; i < attempts; i++) {
      try {
        out = await this.run(dmpstoreCommand(name, guid));
      } catch (e) {
        // A byte of the prompt itself was dropped: ask for a fresh prompt and dump again.
        if (i + 1 >= attempts) throw e;
        await this.attachToShell();
        continue;
      }
      if (/No matching variables/i.test(out)) return out;
      const v = parseDmpstore(out).find((x) => x.name === name);
      if (v?.complete) return out;
      // Let a burst of load pass before the next dump (a loaded host lost the same bytes three
      // times in a row without a pause).
      await sleep(1000 * (i + 1));
      await this.attachToShell();
    }
    return out;
  }

  /** true once the output after `from` ends with exactly `cmd` (the shell echoes each key). */
  private async waitEcho(cmd: string, from: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      // The shell redraws with backspaces/cursor moves at times; compare the visible tail.
      const tail = this.text()
        .slice(from)
        .replace(/[\b\r]/g, '');
      if (tail.endsWith(cmd)) return true;
      if (tail.length > cmd.length + 40 || Date.now() > deadline) return false;
      await sleep(50);
    }
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

export interface DumpedVariable {
  name: string;
  guid: string;
  /** The attribute letters dmpstore printed, e.g. `NV+BS`. */
  attrs: string;
  data: Buffer;
  /** DataSize as dmpstore printed it (`data` holds fewer bytes when serial output was lost). */
  size: number;
  /** Whether the hex rows held all DataSize bytes (false: serial output was lost). */
  complete: boolean;
}

/**
 * The variables in the UEFI shell's `dmpstore` output:
 *   Variable NV+BS '3A7B9C1E-...:NusMarker' DataSize = 0x10
 *     00000000: 63 00 6F 00 6C 00 64 00-2D 00 61 00 62 00 63 00  *c.o.l.d.-.a.b.c.*
 * Data comes from the hex columns only (the ASCII column is ignored).
 */
export function parseDmpstore(out: string): DumpedVariable[] {
  const vars: DumpedVariable[] = [];
  let cur: (DumpedVariable & { bytes: number[] }) | null = null;
  const flush = () => {
    if (cur)
      vars.push({
        name: cur.name,
        guid: cur.guid,
        attrs: cur.attrs,
        data: Buffer.from(cur.bytes.slice(0, cur.size)),
        size: cur.size,
        complete: cur.bytes.length >= cur.size,
      });
    cur = null;
  };
  for (const line of out.split(/\r?\n/)) {
    const head = /Variable\s+(\S+)\s+'([0-9A-Fa-f-]{36}):([^']*)'\s+DataSize\s*=\s*0x([0-9A-Fa-f]+)/.exec(line);
    if (head) {
      flush();
      cur = { attrs: head[1], guid: head[2].toLowerCase(), name: head[3], size: parseInt(head[4], 16), data: Buffer.alloc(0), complete: false, bytes: [] };
      continue;
    }
    const row = /^\s*([0-9A-Fa-f]{8}):\s+((?:[0-9A-Fa-f]{2}[ -]?){1,16})/.exec(line);
    if (row && cur) {
      const c: { bytes: number[] } = cur;
      for (const h of row[2].match(/[0-9A-Fa-f]{2}/g) ?? []) c.bytes.push(parseInt(h, 16));
    }
  }
  flush();
  return vars;
}

/** The UTF-16LE string value of `name` in a dmpstore output (NUL-terminated or not), or null. Throws on a truncated dump. */
export function dumpedString(out: string, name: string): string | null {
  const v = parseDmpstore(out).find((x) => x.name === name);
  if (v && !v.complete) throw new Error(`dmpstore: ${name} came back with fewer bytes than its DataSize (serial output lost): ${JSON.stringify(out)}`);
  return v ? v.data.toString('utf16le').replace(/\0+$/, '') : null;
}

/**
 * Whether a dmpstore output shows `name` holding the UTF-16 string `want` (null: the variable is
 * absent). A dump that lost serial bytes after every retry still agrees when its DataSize is
 * `want`'s and the bytes that arrived (at least 8, from the start, no byte missing among them)
 * are `want`'s: the console dropped the tail of the line, not the variable. Anything else is a
 * disagreement, so the check still fails for a wrong, shorter or longer value.
 */
export function dumpedAgrees(out: string, name: string, want: string | null): { agrees: boolean; partial: boolean } {
  const v = parseDmpstore(out).find((x) => x.name === name);
  if (!v) return { agrees: want === null && /No matching variables/i.test(out), partial: false };
  if (want === null) return { agrees: false, partial: !v.complete };
  if (v.complete) return { agrees: v.data.toString('utf16le').replace(/\0+$/, '') === want, partial: false };
  const bytes = Buffer.from(want, 'utf16le');
  const sizeOk = v.size === bytes.length || v.size === bytes.length + 2;
  const prefixOk = v.data.length >= 8 && v.data.equals(Buffer.concat([bytes, Buffer.alloc(2)]).subarray(0, v.data.length));
  return { agrees: sizeOk && prefixOk, partial: true };
}
