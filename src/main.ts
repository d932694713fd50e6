/**
 * @module main
 * `nova-uefi-shim [--config-file PATH]`: load the config (built-in defaults without one),
 * start the sidecar, stop cleanly on SIGTERM/SIGINT, re-read the Secure Boot key sets on SIGHUP. Start-up problems are one line on
 * stderr and exit code 1, never a stack trace. `nova-uefi-shim nvram ...` runs the offline
 * variable store tool (`cli/nvram`) instead of the sidecar.
 */
import { ConfigError, loadConfigFile, buildConfig, type Config } from './config';
import { startSidecar, StartupError } from './server';
import { NovaError } from './errors';
import { runNvramCli } from './cli/nvram';

function parseArgs(argv: string[]): { configFile?: string } {
  const out: { configFile?: string } = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--config-file') out.configFile = argv[++i];
    else if (a.startsWith('--config-file=')) out.configFile = a.slice('--config-file='.length);
    else if (a === '-h' || a === '--help') {
      process.stdout.write('usage: nova-uefi-shim [--config-file PATH]\n');
      process.exit(0);
    } else {
      process.stderr.write(`nova-uefi-shim: unknown argument '${a}' (usage: nova-uefi-shim [--config-file PATH])\n`);
      process.exit(2);
    }
  }
  return out;
}

async function main(): Promise<void> {
  // `nova-uefi-shim nvram ...`: offline varstore tool (src/cli/nvram.ts), not the sidecar.
  if (process.argv[2] === 'nvram') {
    process.exitCode = await runNvramCli(process.argv.slice(3));
    return;
  }
  const args = parseArgs(process.argv.slice(2));
  let config: Config;
  try {
    config = args.configFile ? loadConfigFile(args.configFile) : buildConfig({}, 'defaults');
  } catch (e) {
    process.stderr.write(`nova-uefi-shim: ${(e as Error).message}\n`);
    process.exit(1);
  }
  try {
    const sidecar = await startSidecar(config);
    const stop = (sig: string) => {
      sidecar.log.info('stopping', { signal: sig });
      sidecar.close().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    // SIGHUP: re-read the Secure Boot key sets from the same file (a broken file keeps the old ones).
    process.on('SIGHUP', () => {
      try {
        sidecar.reloadKeysets(args.configFile ? loadConfigFile(args.configFile) : buildConfig({}, 'defaults'));
      } catch (e) {
        sidecar.log.error('key sets not reloaded: configuration file invalid', { error: (e as Error).message });
      }
    });
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  } catch (e) {
    if (e instanceof StartupError || e instanceof ConfigError || e instanceof NovaError) {
      process.stderr.write(`nova-uefi-shim: ${e.message}\n`);
      process.exit(1);
    }
    throw e;
  }
}

void main();
