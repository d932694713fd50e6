/**
 * @module tempest-compat/run
 * Entry point (`npm run tempest`, i.e. `node --import tsx tempest-compat/run.ts`).
 *
 *   --config-file FILE   run against the deployment named in a tempest.conf
 *   (no --config-file)   start two sidecars (compute1, compute2), generate a tempest.conf,
 *                        run, tear everything down even on failure
 *   --backend B          embedded (default); libvirt is refused for self-started sidecars (use --config-file)
 *   --enable-feature F   (repeatable, comma list) set a [compute-feature-enabled] flag True
 *                        in the generated conf, e.g. resize,cold_migration,live_migration
 *   --subunit            subunit v2 on stdout, human progress on stderr
 *   --regex RE           run only tests whose id matches RE (tempest/stestr style)
 *   --list               list test ids and exit
 *   --keep-tmp           keep the self-started sidecars' temporary directory
 * Exit status: 0 when nothing failed, 1 on a test failure, 2 on a usage or set-up error.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CONF, loadConfig, parseConfig } from './lib/config';
import { setHostControl } from './lib/hostControl';
import { HumanReporter, SubunitReporter, discover, runTests, summary, type Reporter, type TestCaseRef, type Result } from './lib/runner';
import { ManagedSidecars } from './lib/sidecars';

interface Args {
  configFile?: string;
  backend: 'embedded' | 'libvirt';
  subunit: boolean;
  regex?: RegExp;
  list: boolean;
  keepTmp: boolean;
  enable: string[];
}

function parseArgs(argv: string[]): Args {
  const a: Args = { backend: 'embedded', subunit: false, list: false, keepTmp: false, enable: [] };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${k} needs a value`);
      return v;
    };
    if (k === '--config-file') a.configFile = val();
    else if (k === '--backend') {
      const b = val();
      if (b !== 'embedded' && b !== 'libvirt') throw new Error(`--backend: embedded|libvirt, got ${b}`);
      if (b === 'libvirt') {
        // Two self-started "hosts" on one libvirtd would share domains and refuse migrations;
        // the libvirt path is covered by test/integration/uefi.e2e.realLibvirt.test.ts and by --config-file.
        throw new Error('--backend libvirt is not supported for self-started sidecars yet: start one sidecar per libvirt host and use --config-file');
      }
      a.backend = b;
    } else if (k === '--subunit') a.subunit = true;
    else if (k === '--regex' || k === '--filter') a.regex = new RegExp(val());
    else if (k === '--list') a.list = true;
    else if (k === '--keep-tmp') a.keepTmp = true;
    else if (k === '--enable-feature')
      a.enable.push(
        ...val()
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      );
    else if (k === '-h' || k === '--help') {
      process.stderr.write(
        fs
          .readFileSync(__filename, 'utf8')
          .split('*/')[0]
          .replace(/^\/\*\*|^ \* ?/gm, '') + '\n',
      );
      process.exit(0);
    } else throw new Error(`unknown argument ${k}`);
  }
  return a;
}

async function main(): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`tempest-compat: ${(e as Error).message}\n`);
    return 2;
  }
  const human = (s: string) => (args.subunit ? process.stderr : process.stdout).write(`${s}\n`);
  let refs: TestCaseRef[] = await discover();
  if (args.regex) refs = refs.filter((r) => args.regex!.test(r.id));
  if (args.list) {
    for (const r of refs) process.stdout.write(`${r.id}\n`);
    return 0;
  }

  let managed: ManagedSidecars | null = null;
  const stopManaged = async () => {
    if (managed) {
      const m = managed;
      managed = null;
      setHostControl(null);
      await m.stop();
    }
  };
  const onSignal = (sig: NodeJS.Signals) => {
    void stopManaged().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  let results: Result[];
  try {
    if (args.configFile) {
      CONF.set(loadConfig(args.configFile));
      human(`tempest-compat: deployment from ${args.configFile}`);
    } else {
      managed = new ManagedSidecars({
        backend: args.backend,
        repoRoot: path.resolve(__dirname, '..'),
        keepTmp: args.keepTmp,
        log: human,
        enableFeatures: args.enable,
      });
      human(`tempest-compat: starting 2 sidecars (${args.backend} backend) in ${managed.root}`);
      try {
        await managed.start();
      } catch (e) {
        human(`tempest-compat: sidecars failed to start: ${(e as Error).message}`);
        await stopManaged();
        return 2;
      }
      setHostControl(managed);
      const confText = managed.tempestConf();
      const confFile = path.join(managed.root, 'tempest.conf');
      fs.writeFileSync(confFile, confText);
      CONF.set(parseConfig(confText, confFile));
      human(`tempest-compat: generated ${confFile}`);
    }
    const reporters: Reporter[] = [new HumanReporter(human)];
    if (args.subunit) reporters.push(new SubunitReporter((b) => process.stdout.write(b)));
    const fanout: Reporter = {
      start: (t) => reporters.forEach((r) => r.start(t)),
      done: (t, r) => reporters.forEach((x) => x.done(t, r)),
    };
    results = await runTests(refs, fanout);
    if (results.some((r) => r.status === 'fail') && managed) human(managed.logsTail(15));
  } finally {
    await stopManaged();
  }
  human('');
  human(summary(results));
  return results.some((r) => r.status === 'fail') ? 1 : 0;
}

main().then(
  (code) => {
    // Flush stdout (a subunit pipe) before exiting.
    process.stdout.write('', () => process.exit(code));
  },
  (e) => {
    process.stderr.write(`tempest-compat: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(2);
  },
);
