/**
 * @module main
 * `nova-uefi-shim [--config-file PATH]`: load the config (built-in defaults without one),
 * start the sidecar, and handle signals: SIGHUP reloads the config file (`Sidecar.reload`),
 * SIGTERM/SIGINT stop gracefully within `[api] shutdown_timeout` (a second one exits at
 * once). Exit code 0 after a stop that finished every call, 1 when the bound cut one (its
 * journal is completed at the next start). Start-up problems go to stderr prefixed
 * `nova-uefi-shim:` (an invalid configuration as `invalid configuration:` and one `- problem`
 * line each) with exit code 1, never a stack trace. The command line is `cli/program`: `nova-uefi-shim doctor`
 * checks the host and `nova-uefi-shim nvram ...` runs the offline variable store tool
 * instead of the sidecar.
 */
import { ConfigError, loadConfigFile, buildConfig, type Config } from './config';
import { startSidecar, StartupError } from './server';
import { NovaError } from './errors';
import { runCli } from './cli/program';

async function main(): Promise<void> {
  // `doctor` and `nvram ...` run and end here; `serve` (the default) is the sidecar.
  const cli = await runCli(process.argv.slice(2));
  if ('exit' in cli) {
    process.exitCode = cli.exit;
    return;
  }
  const args = cli.serve;
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
