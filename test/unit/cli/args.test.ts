/**
 * cli/args: commander set up to write to injected streams, never exit, and say usage problems
 * in the sidecar's own one-line words.
 */
import { strict as assert } from 'node:assert';
import { Command, CommanderError } from 'commander';
import { USAGE_EXIT, isHelpShown, prepare, subcommandIn, usageMessage, type CliIo } from '../../../src/cli/args';

function io(): CliIo & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } };
}

/** `tool show FILE [--format F] [--mandatory M]`, `tool diff A B`, `tool list` (alias ls). */
function program(): Command {
  const p = new Command('tool').version('1.2.3');
  p.command('show')
    .argument('<FILE>')
    .option('--format <f>', 'output format')
    .action(() => undefined);
  p.command('diff')
    .argument('<A>')
    .argument('<B>')
    .action(() => undefined);
  p.command('list')
    .alias('ls')
    .action(() => undefined);
  p.command('need')
    .requiredOption('--mandatory <m>')
    .action(() => undefined);
  return p;
}

/** The CommanderError parsing `argv` throws, and the subcommand that was parsing. */
function failure(argv: string[]): { e: CommanderError; cmd?: Command } {
  const t = io();
  const p = prepare(program(), t);
  try {
    p.parse(argv, { from: 'user' });
  } catch (e) {
    assert.ok(e instanceof CommanderError, String(e));
    assert.deepEqual(t.err, [], "commander's own error line is suppressed");
    return { e, cmd: subcommandIn(p, argv) };
  }
  assert.fail(`no error for ${argv.join(' ')}`);
}

describe('cli/args', () => {
  it('a usage problem exits 2', () => assert.equal(USAGE_EXIT, 2));

  const usage: Array<[string, string[], string]> = [
    ['a missing argument', ['show'], 'missing FILE'],
    ['an unknown option', ['show', 'f.fd', '--nope'], 'unknown option --nope'],
    ['an option without its value', ['show', 'f.fd', '--format'], 'option --format needs a value'],
    ['a missing mandatory option', ['need'], 'missing --mandatory'],
    ['an unexpected extra argument', ['diff', 'a', 'b', 'c'], "unexpected argument 'c'"],
    ['an unknown command', ['frobnicate'], "unknown command 'frobnicate'"],
  ];
  for (const [title, argv, want] of usage) {
    it(`says ${title} as '${want}'`, () => {
      const { e, cmd } = failure(argv);
      assert.equal(usageMessage(e, cmd), want);
    });
  }

  it('falls back to commander\'s message without its "error: " prefix', () => {
    assert.equal(usageMessage(new CommanderError(1, 'commander.other', 'error: something odd')), 'something odd');
  });

  it('writes help to the injected stdout, in lower-case "usage:", for a subcommand too, without exiting', () => {
    const t = io();
    const p = prepare(program(), t);
    assert.throws(
      () => p.parse(['show', '--help'], { from: 'user' }),
      (e: unknown) => isHelpShown(e),
    );
    const help = t.out.join('');
    assert.match(help, /^usage: tool show \[options\] <FILE>/);
    assert.match(help, /--format <f>/);
  });

  it('counts --version as help shown, and a parse error as not', () => {
    const t = io();
    const p = prepare(program(), t);
    let caught: unknown;
    try {
      p.parse(['--version'], { from: 'user' });
    } catch (e) {
      caught = e;
    }
    assert.equal(isHelpShown(caught), true);
    assert.equal(t.out.join(''), '1.2.3\n');
    assert.equal(isHelpShown(failure(['show']).e), false);
    assert.equal(isHelpShown(new Error('x')), false);
  });

  it('prepares subcommands added after the first call when called again', () => {
    const t = io();
    const p = prepare(program(), t);
    p.command('late')
      .argument('<X>')
      .action(() => undefined);
    prepare(p, t);
    assert.throws(() => p.parse(['late'], { from: 'user' }), CommanderError, 'the late subcommand throws instead of exiting');
    assert.deepEqual(t.err, []);
  });

  it('subcommandIn finds the subcommand by its first non-option word, or by alias', () => {
    const p = program();
    assert.equal(subcommandIn(p, ['--verbose', 'diff', 'a'])?.name(), 'diff');
    assert.equal(subcommandIn(p, ['ls'])?.name(), 'list');
    assert.equal(subcommandIn(p, ['nothing']), undefined);
    assert.equal(subcommandIn(p, ['--only-options']), undefined);
  });
});
