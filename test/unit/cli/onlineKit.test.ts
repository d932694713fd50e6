/**
 * cli/onlineKit: argument checks (uuid, GUID names), the text renderings (table, Secure Boot
 * summary, a variable's short value), and the kit itself: a client from the connection
 * options (usage problems before anything is sent), `--json` or text, progress on stderr, and
 * a leaf command that takes the connection options and sets exit 0 only when its action ends.
 */
import { strict as assert } from 'node:assert';
import { Command } from 'commander';
import { UsageError } from '../../../src/cli/args';
import { CliError, EXIT } from '../../../src/cli/client';
import { guidOf, json, onlineKit, secureBootText, summary, table, uuidArg, type Common } from '../../../src/cli/onlineKit';

function io() {
  const out = { stdout: '', stderr: '' };
  return { out, io: { stdout: { write: (s: string) => (out.stdout += s) }, stderr: { write: (s: string) => (out.stderr += s) } } };
}

const db = (over: Partial<{ present: boolean; certificates: string[]; hash_count: number; error: string }> = {}) => ({
  present: true,
  certificates: [] as string[],
  hash_count: 0,
  ...over,
});

describe('cli/onlineKit', () => {
  it('uuidArg takes a uuid in any case and answers it lower-cased; anything else is a usage error', () => {
    assert.equal(uuidArg('0B7A6C2E-1D3F-4E5A-8B9C-0D1E2F3A4B5C'), '0b7a6c2e-1d3f-4e5a-8b9c-0d1e2f3a4b5c');
    assert.throws(
      () => uuidArg('instance-000002a0'),
      (e: unknown) => e instanceof UsageError && /'instance-000002a0' is not an instance uuid/.test(e.message),
    );
    assert.throws(() => uuidArg('0b7a6c2e-1d3f-4e5a-8b9c-0d1e2f3a4b5c0'), UsageError);
  });

  it('guidOf takes a GUID or a well-known name; anything else is a usage error naming --guid', () => {
    assert.equal(guidOf('EfiGlobalVariable'), '8be4df61-93ca-11d2-aa0d-00e098032b8c');
    assert.equal(guidOf('d719b2cb-3d3a-4596-a3bc-dad00e67656f'), 'd719b2cb-3d3a-4596-a3bc-dad00e67656f');
    assert.throws(
      () => guidOf('NoSuchVendor'),
      (e: unknown) => e instanceof UsageError && /^--guid: 'NoSuchVendor' is not a GUID/.test(e.message),
    );
  });

  it('json is indented with a final newline; table pads every column but the last to its widest cell', () => {
    assert.equal(json({ a: [1] }), '{\n  "a": [\n    1\n  ]\n}\n');
    assert.equal(
      table(
        ['GEN', 'REASON', 'HOST'],
        [
          ['12', 'stop', 'compute1'],
          ['3', 'shelve', 'c2'],
        ],
      ),
      'GEN  REASON  HOST\n12   stop    compute1\n3    shelve  c2\n',
    );
    assert.equal(table(['A'], []), 'A\n');
  });

  it('secureBootText says the mode, the key set, each database and the queued changes', () => {
    const text = secureBootText({
      enabled: true,
      setup_mode: false,
      keyset: 'debian',
      pk: db({ certificates: ['CN=PK'] }),
      kek: db({ certificates: ['CN=KEK 2011', 'CN=KEK 2023'] }),
      db: db({ certificates: ['CN=db'], hash_count: 2 }),
      dbx: db({ hash_count: 1 }),
      pending: [{ id: 'c0ffee00-0000-4000-8000-000000000001' } as never],
    });
    assert.equal(
      text,
      [
        'Secure Boot: enabled',
        'key set: debian',
        'PK: CN=PK',
        'KEK: CN=KEK 2011; CN=KEK 2023',
        'db: CN=db; 2 SHA-256 hashes',
        'dbx: 1 SHA-256 hash',
        'queued for the next cold boot: c0ffee00-0000-4000-8000-000000000001',
        '',
      ].join('\n'),
    );
    const setup = secureBootText({ enabled: false, setup_mode: true, pk: db({ present: false }), kek: db(), db: db({ error: 'truncated list' }), dbx: db() });
    assert.match(
      setup,
      /^Secure Boot: setup mode \(no PK: any key may be enrolled\)\nkey set: -\nPK: not enrolled\nKEK: empty\ndb: unreadable \(truncated list\)\ndbx: empty\n$/,
    );
    assert.match(secureBootText({ enabled: false, setup_mode: false, pk: db(), kek: db(), db: db(), dbx: db() }), /^Secure Boot: disabled\n/);
  });

  it("summary shows a variable's decoded value in one phrase, else its hex (cut at 32 characters)", () => {
    const v = { name: 'X', guid: 'g', attr: 7, data: '' };
    assert.equal(summary({ ...v, data: 'ab'.repeat(20) }), `${'ab'.repeat(16)}...`);
    assert.equal(summary({ ...v, data: '0100' }), '0100');
    assert.equal(summary({ ...v, decoded: { description: 'UEFI Shell' } }), 'UEFI Shell');
    assert.equal(summary({ ...v, decoded: { entries: ['Boot0001', 'Boot0000'] } }), 'Boot0001,Boot0000');
    assert.equal(summary({ ...v, decoded: { value: 5 } }), '5');
    assert.equal(summary({ ...v, decoded: { certificates: ['CN=a', 'CN=b'] } }), 'CN=a; CN=b');
    assert.equal(summary({ ...v, decoded: { kind: 'esl' } }), 'esl');
  });

  describe('the kit', () => {
    it('client takes --url and --token over the environment, and 30 s unless --timeout says otherwise', () => {
      const { io: cio } = io();
      const kit = onlineKit(cio, { code: -1 }, { env: { NOVA_UEFI_SHIM_URL: 'http://10.0.0.9:7780', NOVA_UEFI_SHIM_TOKEN: 'envtok' } });
      const c = kit.client({ url: 'http://127.0.0.1:9999/', token: 'flagtok' });
      assert.deepEqual(c.settings, { url: 'http://127.0.0.1:9999', token: 'flagtok', source: 'the command line' });
      const e = kit.client({});
      assert.deepEqual(e.settings, { url: 'http://10.0.0.9:7780', token: 'envtok', source: 'NOVA_UEFI_SHIM_URL' });
    });

    it('client refuses a bad --timeout and an unreadable --config-file as usage problems (exit 2), before sending anything', () => {
      const { io: cio } = io();
      const kit = onlineKit(cio, { code: -1 }, { env: {} });
      for (const t of ['0', '-1', 'soon'])
        assert.throws(
          () => kit.client({ url: 'http://x', token: '', timeout: t }),
          (e: unknown) => e instanceof UsageError && e.message === `--timeout: '${t}' is not a number of seconds`,
        );
      assert.throws(
        () => kit.client({ configFile: '/nonexistent/nova-uefi-shim.conf' }),
        (e: unknown) => e instanceof CliError && e.exit === EXIT.USAGE && /\/nonexistent\/nova-uefi-shim\.conf/.test(e.message),
      );
    });

    it('emit prints the answer as JSON with --json, else the text; progress goes to stderr', () => {
      const { io: cio, out } = io();
      const kit = onlineKit(cio, { code: -1 });
      let rendered = 0;
      kit.emit({ json: true }, { a: 1 }, () => (rendered++, 'text\n'));
      kit.emit({}, { a: 1 }, () => (rendered++, 'text\n'));
      kit.progress('writing generation 3');
      assert.equal(out.stdout, '{\n  "a": 1\n}\ntext\n');
      assert.equal(rendered, 1, 'the text is only rendered without --json');
      assert.equal(out.stderr, 'writing generation 3\n');
    });

    it('leaf adds the connection options, hands the action its arguments and options, and sets exit 0 only once it finished', async () => {
      const { io: cio } = io();
      const out = { code: -1 };
      const kit = onlineKit(cio, out);
      const got: unknown[][] = [];
      const program = new Command().exitOverride();
      kit.leaf(program.command('backups').argument('<uuid>'), async (...a: never[]) => {
        got.push(a);
        assert.equal(out.code, -1, 'not yet done while the action runs');
      });
      kit.leaf(program.command('fails'), async () => {
        throw new CliError('refused', EXIT.REFUSED);
      });
      await program.parseAsync(['backups', 'abc', '--url', 'http://h:1', '--token', 't', '--json', '--timeout', '5'], { from: 'user' });
      assert.equal(out.code, EXIT.OK);
      assert.equal(got.length, 1);
      const [arg, opts] = got[0] as [string, Common];
      assert.equal(arg, 'abc');
      assert.deepEqual({ ...opts }, { url: 'http://h:1', token: 't', json: true, timeout: '5' });
      out.code = -1;
      await assert.rejects(program.parseAsync(['fails'], { from: 'user' }), /refused/);
      assert.equal(out.code, -1, 'a failed action does not set exit 0');
    });

    it('leaf defaults --timeout to 30', async () => {
      const { io: cio } = io();
      const kit = onlineKit(cio, { code: -1 });
      let opts: Common | undefined;
      const program = new Command().exitOverride();
      kit.leaf(program.command('list'), async (o: never) => void (opts = o));
      await program.parseAsync(['list'], { from: 'user' });
      assert.equal(opts?.timeout, '30');
      assert.equal(opts?.json, undefined);
    });
  });
});
