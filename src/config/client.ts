/**
 * @module config/client
 * Where the online CLI (`nova-uefi-shim instance ...`) finds a running sidecar and its token,
 * first found wins per value:
 *   1. `--url` / `--token`;
 *   2. the environment: `NOVA_UEFI_SHIM_URL`, `NOVA_UEFI_SHIM_TOKEN`;
 *   3. the sidecar's configuration (`--config-file`, else `NOVA_UEFI_SHIM_CONFIG`, else the
 *      packaged `/etc/nova-uefi-shim/nova-uefi-shim.conf` when it is readable): the URL from
 *      `[api] host`, `port` and `tls_cert_file` (https), the token from `[api] auth_token`;
 *   4. `http://127.0.0.1:7780` and no token.
 * The one place besides the config loader that reads the environment (STYLE R7: only config/
 * does). A configuration file named explicitly that does not load is an error; the packaged one
 * unreadable (the CLI run as another user than the sidecar) is skipped.
 */
import { accessSync, constants as fsc } from 'node:fs';
import { ConfigError, DEFAULT_CONFIG_FILE, loadConfigFile, type Config } from './index';

export const ENV_URL = 'NOVA_UEFI_SHIM_URL';
export const ENV_TOKEN = 'NOVA_UEFI_SHIM_TOKEN';
export const ENV_CONFIG = 'NOVA_UEFI_SHIM_CONFIG';
export const DEFAULT_URL = 'http://127.0.0.1:7780';

export interface ClientOptions {
  url?: string;
  token?: string;
  configFile?: string;
}

export interface ClientSettings {
  /** Base URL without a trailing slash. */
  url: string;
  /** Bearer token, '' for none. */
  token: string;
  /** Where the URL came from (`--url`, NOVA_UEFI_SHIM_URL, a config file, the default): for messages. */
  source: string;
}

/** The URL a sidecar listening per `[api]` answers on, from this host. */
export function urlOf(config: Config): string {
  const { host, port, tls_cert_file: cert } = config.api;
  const local = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  const h = local.includes(':') ? `[${local}]` : local;
  return `${cert ? 'https' : 'http'}://${h}:${port}`;
}

function readable(file: string): boolean {
  try {
    accessSync(file, fsc.R_OK);
    return true;
  } catch {
    return false;
  }
}

export function clientSettings(opts: ClientOptions, env: NodeJS.ProcessEnv = process.env): ClientSettings {
  const named = opts.configFile ?? (env[ENV_CONFIG] || undefined);
  let config: Config | undefined;
  if (named !== undefined) {
    try {
      config = loadConfigFile(named);
    } catch (e) {
      throw new Error(e instanceof ConfigError ? `${named}: ${e.problems.join('; ')}` : (e as Error).message, { cause: e });
    }
  } else if ((opts.url === undefined || opts.token === undefined) && readable(DEFAULT_CONFIG_FILE)) {
    try {
      config = loadConfigFile(DEFAULT_CONFIG_FILE);
    } catch {
      config = undefined;
    }
  }
  const pick = (flag: string | undefined, envName: string, fromConfig: string | undefined, fallback: string): [string, string] => {
    if (flag !== undefined) return [flag, 'the command line'];
    if (env[envName]) return [env[envName], envName];
    if (config && fromConfig !== undefined) return [fromConfig, config.source];
    return [fallback, 'the default'];
  };
  const [url, source] = pick(opts.url, ENV_URL, config ? urlOf(config) : undefined, DEFAULT_URL);
  const [token] = pick(opts.token, ENV_TOKEN, config?.api.auth_token, '');
  return { url: url.replace(/\/+$/, ''), token, source };
}
