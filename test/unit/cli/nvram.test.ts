/**
 * cli/nvram's own pieces (test/unit/varstore/cli.test.ts runs the commands end to end): how a
 * failure becomes one line and an exit code (`nvramFailure`: usage 2, failure 1, `diff`'s
 * trouble 2, help 0), the refusals of `--attr`, and `nvramCommand` leaving each action's exit
 * code in `out` on a real store file.
 */
import { strict as assert } from 'node:assert';
import { Command, CommanderError } from 'commander';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../../../src/cli/args';
import { nvramCommand, nvramFailure, parseAttr, runNvramCli } from '../../../src/cli/nvram';
import { ovmf4mStore } from '../../support/driverHarness';
import { tmpDir } from '../../support/firmwareFixture';

function io() {
  const o = { out: '', err: '' };
  return { o, io: { stdout: { write: (s: string) => (o.out += s) }, stderr: { write: (s: string) => (o.err += s) } } };
}

describe('cli/nvram', () => {
  let root: string;
  beforeEach(() => (root = tmpDir('nus-clinvram-')));
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  it('parseAttr refuses an unknown attribute name, a number over 32 bits and anything else, naming --attr', () => {
    assert.equal(parseAttr('nv,bs'), 3);
    assert.equal(parseAttr('0xffffffff'), 0xffffffff);
    assert.throws(
      () => parseAttr('NV,XX'),
      (e: unknown) => e instanceof UsageError && e.message === "--attr: unknown attribute 'XX' (NV, BS, RT, HR, AW, AT, AP, EA)",
    );
    assert.throws(
      () => parseAttr('0x100000000'),
      (e: unknown) => e instanceof UsageError && /--attr: '0x100000000' is not a number/.test(e.message),
    );
    assert.throws(() => parseAttr('NV BS'), /--attr: 'NV BS' is not a number or a list like NV,BS,RT/);
  });

  describe('nvramFailure', () => {
    const nvram = () => nvramCommand(io().io);
    it('a usage error is exit 2 with one line naming the subcommand and pointing to --help', () => {
      const { o, io: cio } = io();
      assert.equal(nvramFailure(new UsageError('--data: must be hex'), nvram(), ['set', 'f'], cio), 2);
      assert.equal(o.err, 'nvram set: --data: must be hex (see: nova-uefi-shim nvram --help)\n');
    });
    it("commander's own refusals are exit 2; help shown is exit 0 and prints nothing more", () => {
      const { o, io: cio } = io();
      assert.equal(
        nvramFailure(
          new CommanderError(1, 'commander.missingMandatoryOptionValue', "error: required option '--name <NAME>' not specified"),
          nvram(),
          ['delete', 'f'],
          cio,
        ),
        2,
      );
      assert.match(o.err, /^nvram delete: .*--name.* \(see: nova-uefi-shim nvram --help\)\n$/);
      const before = o.err;
      assert.equal(nvramFailure(new CommanderError(0, 'commander.helpDisplayed', '(outputHelp)'), nvram(), ['--help'], cio), 0);
      assert.equal(o.err, before);
    });
    it('any other failure is exit 1 on one line (2 under diff), an unexpected one marked internal', () => {
      const { o, io: cio } = io();
      assert.equal(nvramFailure(new Error('boom\n  on two lines'), nvram(), ['show', 'f'], cio), 1);
      assert.equal(o.err, 'nvram show: internal error: boom on two lines\n');
      assert.equal(nvramFailure(new Error('x'), nvram(), ['diff', 'a', 'b'], cio), 2);
    });
  });

  it('nvramCommand leaves each action exit code in out: set to --output, diff 1 when the stores differ, 0 when equal', async () => {
    const a = path.join(root, 'a.fd');
    fs.writeFileSync(a, ovmf4mStore([0, 1]));
    const b = path.join(root, 'b.fd');
    const { o, io: cio } = io();
    const out = { code: -1 };
    const program = new Command('nova-uefi-shim').exitOverride().addCommand(nvramCommand(cio, out));
    await program.parseAsync(['nvram', 'set', a, '--name', 'Timeout', '--guid', 'EfiGlobalVariable', '--attr', 'NV,BS,RT', '--data', '0500', '--output', b], {
      from: 'user',
    });
    assert.equal(out.code, 0, o.err);
    assert.ok(fs.readFileSync(a).equals(ovmf4mStore([0, 1])), 'the input is untouched');
    out.code = -1;
    await program.parseAsync(['nvram', 'diff', a, b], { from: 'user' });
    assert.equal(out.code, 1);
    assert.match(o.out, /Timeout/);
    out.code = -1;
    await program.parseAsync(['nvram', 'diff', a, a], { from: 'user' });
    assert.equal(out.code, 0);
    out.code = -1;
    await program.parseAsync(['nvram', 'show', b, '--json'], { from: 'user' });
    assert.equal(out.code, 0);
    const shown = JSON.parse(o.out.slice(o.out.indexOf('{'))) as { variables: { name: string; data: string }[] };
    assert.equal(shown.variables.find((v) => v.name === 'Timeout')?.data, '0500');
  });

  it('runNvramCli: a missing file is exit 1 with one line; no command is the help and exit 2', async () => {
    const m = io();
    assert.equal(await runNvramCli(['show', path.join(root, 'nope.fd')], m.io), 1);
    assert.equal(m.o.err.split('\n').filter(Boolean).length, 1, m.o.err);
    assert.match(m.o.err, /^nvram show: .*nope\.fd/);
    const h = io();
    assert.equal(await runNvramCli([], h.io), 2);
    assert.match(h.o.err, /^usage: nova-uefi-shim nvram <command> \[options\]\n/);
  });
});
