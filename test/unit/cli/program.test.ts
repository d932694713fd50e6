/**
 * cli/program: the command line through commander. `serve` is the default command, every
 * command and subcommand answers `--help` (exit 0, usage on stdout), and usage problems are
 * one line in the sidecar's words with exit code 2.
 */
import { strict as assert } from 'node:assert';
import { runCli, type CliOutcome } from '../../../src/cli/program';

async function run(...argv: string[]): Promise<{ r: CliOutcome; out: string; err: string }> {
  let out = '';
  let err = '';
  const r = await runCli(argv, { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } });
  return { r, out, err };
}

describe('cli/program', () => {
  const serves: [string[], { configFile?: string }][] = [
    [[], {}],
    [['--config-file', '/etc/x.conf'], { configFile: '/etc/x.conf' }],
    [['--config-file=/etc/x.conf'], { configFile: '/etc/x.conf' }],
    [['serve', '--config-file', '/etc/x.conf'], { configFile: '/etc/x.conf' }],
  ];
  for (const [argv, want] of serves) {
    it(`runs the sidecar for '${argv.join(' ')}'`, async () => {
      assert.deepEqual((await run(...argv)).r, { serve: want });
    });
  }

  const helps: string[][] = [
    [],
    ['serve'],
    ['doctor'],
    ['nvram'],
    ...['show', 'diff', 'set', 'delete', 'export', 'import', 'secure-boot'].map((c) => ['nvram', c]),
    ...['list', 'show', 'variables', 'get', 'set', 'unset', 'secure-boot', 'enroll', 'backups', 'backup', 'restore'].map((c) => ['instance', c]),
    ...['list', 'show', 'start'].map((c) => ['rotation', c]),
    ...['list', 'prune'].map((c) => ['replicas', c]),
  ];
  for (const argv of helps) {
    it(`answers --help for '${['nova-uefi-shim', ...argv].join(' ')}'`, async () => {
      const { r, out, err } = await run(...argv, '--help');
      assert.deepEqual(r, { exit: 0 });
      assert.equal(err, '');
      assert.ok(out.startsWith(`usage: ${['nova-uefi-shim', ...argv].join(' ')}`), out);
    });
  }

  const problems: [string[], RegExp][] = [
    [['bogus'], /^nova-uefi-shim: unexpected argument 'bogus' \(see: nova-uefi-shim --help\)\n$/],
    [['--nope'], /^nova-uefi-shim: unknown option --nope /],
    [['--config-file'], /^nova-uefi-shim: option --config-file needs a value /],
    [['doctor', '--nope'], /^nova-uefi-shim: unknown option --nope /],
    [['nvram', 'show'], /^nvram show: missing FILE \(see: nova-uefi-shim nvram --help\)\n$/],
  ];
  for (const [argv, re] of problems) {
    it(`refuses '${argv.join(' ')}' with one line and exit 2`, async () => {
      const { r, out, err } = await run(...argv);
      assert.deepEqual(r, { exit: 2 });
      assert.equal(out, '');
      assert.match(err, re);
    });
  }
});
