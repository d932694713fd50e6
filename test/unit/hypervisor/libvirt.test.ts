/**
 * LibvirtHypervisor against the in-memory fake virsh: the argv it sends, what it treats as
 * harmless, and the state mapping. Tables of `[sentence, { given, want }]`.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LibvirtHypervisor, mapDomState, undefineFlag } from '../../../src/hypervisor/libvirt';
import { PowerState, type PowerStateCode } from '../../../src/nova/powerState';
import { HypervisorError } from '../../../src/errors';
import { FakeVirsh } from '../../support/fakeVirsh';

const XML = (name: string, nvram = true) =>
  `<domain type='qemu'><name>${name}</name><os><type arch='x86_64' machine='q35'>hvm</type>` +
  (nvram ? `<nvram template='/usr/share/OVMF/OVMF_VARS_4M.fd'>/var/lib/libvirt/qemu/nvram/${name}_VARS.fd</nvram>` : '') +
  `</os></domain>`;

function setup() {
  const fake = new FakeVirsh();
  const hv = new LibvirtHypervisor({ uri: 'qemu:///system', runner: fake.runner, pollIntervalMs: 1 });
  return { fake, hv };
}

const rejectsKind = async (p: Promise<unknown>, kind: string) => assert.rejects(p, (e: unknown) => e instanceof HypervisorError && e.kind === kind);

describe('hypervisor/libvirt', () => {
  describe('undefine NVRAM flags', () => {
    const table: [string, { keepNvram: boolean; want: string }][] = [
      ['passes only --keep-nvram when the NVRAM must survive (redefinition, hard reboot)', { keepNvram: true, want: '--keep-nvram' }],
      ['passes only --nvram when the NVRAM is deleted with the domain', { keepNvram: false, want: '--nvram' }],
    ];
    for (const [name, { keepNvram, want }] of table) {
      it(name, async () => {
        const { fake, hv } = setup();
        await hv.define(XML('d1'));
        await hv.undefine('d1', { keepNvram });
        const argv = fake.argvs().find((a) => a[0] === 'undefine')!;
        assert.deepEqual(argv, ['undefine', 'd1', want]);
        assert.equal(argv.filter((a) => a === '--nvram' || a === '--keep-nvram').length, 1);
        assert.equal(fake.domains.has('d1'), false);
      });
    }

    it('refuses to guess when keepNvram is missing (never neither flag)', async () => {
      const { fake, hv } = setup();
      await rejectsKind(hv.undefine('d1', {} as never), 'nvram');
      assert.throws(() => undefineFlag(undefined as never), HypervisorError);
      assert.equal(
        fake.argvs().some((a) => a[0] === 'undefine'),
        false,
      );
    });

    it('treats an undefined domain as already undefined', async () => {
      const { hv } = setup();
      await hv.undefine('gone', { keepNvram: false });
    });
  });

  describe('domstate to Nova power state', () => {
    const table: [string, PowerStateCode][] = [
      ['running', PowerState.RUNNING],
      ['idle', PowerState.RUNNING],
      ['blocked', PowerState.RUNNING],
      ['in shutdown', PowerState.RUNNING],
      ['paused', PowerState.PAUSED],
      ['shut off', PowerState.SHUTDOWN],
      ['crashed', PowerState.CRASHED],
      ['pmsuspended', PowerState.SUSPENDED],
      ['no state', PowerState.NOSTATE],
      ['something new', PowerState.NOSTATE],
    ];
    for (const [word, code] of table) {
      it(`maps "${word}" to ${code}`, async () => {
        assert.equal(mapDomState(word), code);
        const { fake, hv } = setup();
        await hv.define(XML('d1'));
        fake.domains.get('d1')!.state = word as never;
        assert.deepEqual(await hv.getInfo('d1'), { name: 'd1', state: code });
      });
    }
    it('answers null for a domain that is not defined', async () => {
      assert.equal(await setup().hv.getInfo('nope'), null);
    });
  });

  describe('define', () => {
    it('passes the XML through a temp file in os.tmpdir() and deletes it afterwards', async () => {
      const { fake, hv } = setup();
      await hv.define(XML('d1'));
      const [call] = fake.calls;
      assert.equal(call.args[0], 'define');
      assert.equal(call.args.length, 2);
      assert.equal(path.dirname(call.args[1]), os.tmpdir());
      assert.equal(call.fileExisted, true);
      assert.equal(call.fileContent, XML('d1'));
      assert.equal(fs.existsSync(call.args[1]), false);
    });

    it('deletes the temp file when libvirt refuses the XML too', async () => {
      const { fake, hv } = setup();
      fake.failNext.set('define', 'error: Failed to define domain from F\nerror: unsupported configuration: UEFI requires ACPI on this architecture\n');
      await rejectsKind(hv.define(XML('d1')), 'other');
      assert.equal(fs.existsSync(fake.calls[0].args[1]), false);
    });
  });

  describe('lifecycle argv and harmless failures', () => {
    it('starts with `start NAME` and `--paused` when asked', async () => {
      const { fake, hv } = setup();
      await hv.define(XML('d1'));
      await hv.start('d1');
      await hv.destroy('d1');
      await hv.start('d1', { paused: true });
      assert.deepEqual(
        fake.argvs().filter((a) => a[0] === 'start'),
        [
          ['start', 'd1'],
          ['start', 'd1', '--paused'],
        ],
      );
      assert.equal((await hv.getInfo('d1'))!.state, PowerState.PAUSED);
    });

    it('reports starting a running domain as already-running', async () => {
      const { hv } = setup();
      await hv.define(XML('d1'));
      await hv.start('d1');
      await rejectsKind(hv.start('d1'), 'already-running');
    });

    it('destroys idempotently: not running and not defined are not errors', async () => {
      const { fake, hv } = setup();
      await hv.define(XML('d1'));
      await hv.destroy('d1');
      await hv.destroy('gone');
      assert.deepEqual(
        fake.argvs().filter((a) => a[0] === 'destroy'),
        [
          ['destroy', 'd1'],
          ['destroy', 'gone'],
        ],
      );
    });

    it('does not swallow other destroy failures', async () => {
      const { fake, hv } = setup();
      await hv.define(XML('d1'));
      await hv.start('d1');
      fake.failNext.set('destroy', "error: Failed to destroy domain 'd1'\nerror: Requested operation is not valid: domain has active block job\n");
      await rejectsKind(hv.destroy('d1'), 'operation-invalid');
    });

    it('reboots with `reboot NAME`', async () => {
      const { fake, hv } = setup();
      await hv.define(XML('d1'));
      await hv.start('d1');
      await hv.reboot('d1');
      assert.deepEqual(fake.argvs().at(-1), ['reboot', 'd1']);
    });

    it('returns true from shutdown once domstate says shut off', async () => {
      const { fake, hv } = setup();
      await hv.define(XML('d1'));
      await hv.start('d1');
      assert.equal(await hv.shutdown('d1', 5), true);
      assert.deepEqual(
        fake.argvs().filter((a) => a[0] === 'shutdown'),
        [['shutdown', 'd1']],
      );
    });

    it('returns false from shutdown when the guest ignores ACPI until the timeout, and leaves it running', async () => {
      const { fake, hv } = setup();
      fake.acpi = 'ignore';
      await hv.define(XML('d1'));
      await hv.start('d1');
      assert.equal(await hv.shutdown('d1', 0.05), false);
      assert.equal((await hv.getInfo('d1'))!.state, PowerState.RUNNING);
    });

    it('does not count a paused guest as shut down', async () => {
      const { fake, hv } = setup();
      fake.acpi = 'ignore';
      await hv.define(XML('d1'));
      await hv.start('d1', { paused: true });
      assert.equal(await hv.shutdown('d1', 0.05), false);
    });

    it('returns true from shutdown of a domain that is already off', async () => {
      const { hv } = setup();
      await hv.define(XML('d1'));
      assert.equal(await hv.shutdown('d1', 1), true);
    });
  });

  describe('reads', () => {
    it('reads the persistent XML with `dumpxml --inactive`, null when not defined', async () => {
      const { fake, hv } = setup();
      await hv.define(XML('d1'));
      assert.equal(await hv.getXml('d1'), XML('d1'));
      assert.deepEqual(fake.argvs().at(-1), ['dumpxml', '--inactive', 'd1']);
      assert.equal(await hv.getXml('nope'), null);
    });

    it('lists all defined domains with `list --all --name`', async () => {
      const { fake, hv } = setup();
      await hv.define(XML('b'));
      await hv.define(XML('a'));
      assert.deepEqual(await hv.list(), ['a', 'b']);
      assert.deepEqual(fake.argvs().at(-1), ['list', '--all', '--name']);
    });
  });

  describe('init', () => {
    it('asks `version` with a generous timeout', async () => {
      const { fake, hv } = setup();
      await hv.init();
      assert.deepEqual(fake.calls[0].args, ['version']);
      assert.ok((fake.calls[0].timeoutMs ?? 0) >= 30_000);
    });

    it('fails with a connect error naming the URI when the daemon is unreachable', async () => {
      const { fake, hv } = setup();
      fake.down = true;
      await assert.rejects(hv.init(), (e: unknown) => e instanceof HypervisorError && e.kind === 'connect' && /qemu:\/\/\/system.*unreachable/.test(e.message));
    });
  });

  describe('liveMigrate', () => {
    const dest = 'qemu+unix:///system?socket=/tmp/b/run/libvirt-sock';
    it('migrates live, persistent, undefining the source, with the migrate URI after the positionals', async () => {
      const { fake, hv } = setup();
      await hv.liveMigrate('d1', { destHost: 'b', destUri: dest, migrateUri: 'tcp://127.0.0.1', timeoutSec: 30 });
      assert.deepEqual(fake.calls[0].args, ['migrate', '--live', '--persistent', '--undefinesource', 'd1', dest, '--migrateuri', 'tcp://127.0.0.1']);
      assert.equal(fake.calls[0].timeoutMs, 30_000);
    });

    it('passes a persistent XML as one temp file for --xml and --persistent-xml, then deletes it', async () => {
      const { fake, hv } = setup();
      await hv.liveMigrate('d1', { destHost: 'b', destUri: dest, persistXml: XML('d1') });
      const a = fake.calls[0].args;
      const f = a[a.indexOf('--xml') + 1];
      assert.equal(a[a.indexOf('--persistent-xml') + 1], f);
      assert.equal(fake.calls[0].fileContent, XML('d1'));
      assert.deepEqual(a.slice(-2), ['d1', dest]);
      assert.equal(fs.existsSync(f), false);
    });
  });
});
