/**
 * @module main
 * `nova-uefi-shim [--config-file PATH]`: load the config (built-in defaults without one),
 * start the sidecar, and handle signals: SIGHUP reloads the config file (`Sidecar.reload`),
 * SIGTERM/SIGINT stop gracefully within `[api] shutdown_timeout` (a second one exits at
 * once). Exit code 0 after a stop that finished every call, 1 when the bound cut one (its
 * journal is completed at the next start). Start-up problems are one line on stderr and exit
 * code 1, never a stack trace. `nova-uefi-shim nvram ...` runs the offline variable store
 * tool (`cli/nvram`) instead of the sidecar.
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
  // SIGHUP's default action ends the process: ignore it until the sidecar can reload.
  const early = () => process.stderr.write('nova-uefi-shim: SIGHUP during start-up ignored\n');
  process.on('SIGHUP', early);
  let config: Config;
  try {
    config = args.configFile ? loadConfigFile(args.configFile) : buildConfig({}, 'defaults');
  } catch (e) {
    process.stderr.write(`nova-uefi-shim: ${(e as Error).message}\n`);
    process.exit(1);
  }
  try {
    const sidecar = await startSidecar(config);
    const log = sidecar.log;
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        log.warning('second stop signal: exiting now', { signal });
        process.exit(1);
      }
      stopping = true;
      const timeout = sidecar.config.api.shutdown_timeout;
      log.info('stopping', { signal, shutdown_timeout: timeout });
      sidecar.shutdown(timeout).then(
        (drained) => process.exit(drained ? 0 : 1),
        (e: unknown) => {
          log.error('stop failed', { error: (e as Error).message });
          process.exit(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    const file = args.configFile;
    process.off('SIGHUP', early);
    process.on('SIGHUP', () => {
      if (!file) return log.warning('SIGHUP: started without --config-file, nothing to reload');
      if (stopping) return log.warning('SIGHUP while stopping: not reloaded');
      log.info('reloading', { signal: 'SIGHUP', config: file });
      sidecar.reload(file).catch((e: unknown) => log.error('reload failed', { config: file, error: (e as Error).message }));
    });
  } catch (e) {
    if (e instanceof StartupError || e instanceof ConfigError || e instanceof NovaError) {
      process.stderr.write(`nova-uefi-shim: ${e.message}\n`);
      process.exit(1);
    }
    throw e;
  }
}

void main();
