/**
 * @module config/keyFiles
 * Secrets kept where only the sidecar reads them, and long enough to be secrets. Like
 * OpenSSH with a private key ("UNPROTECTED PRIVATE KEY FILE"), the sidecar refuses a key file
 * that its group or others may read, write or execute (mode & 0077): the replica keys, the S3
 * secret key file, the API's TLS private key. It does so at start-up, at every reload, and
 * `doctor` fails it. A file that is missing is left to the code that reads it (which names it).
 *
 * Secrets written into the config file (`[api] auth_token`, `[peer] shared_secret`) must be at
 * least 16 bytes when set (`secretProblems`, part of config validation); replica keys are
 * 32 bytes by their format (replica/keys).
 */
import { statSync } from 'node:fs';

/** The options that name key files (a structural slice of Config: config/index imports this module). */
interface KeyFileOptions {
  api: { tls_key_file: string };
  replica: { backend: string; encryption_key_file: string; old_key_files: readonly string[]; secret_key_file: string };
}

export const MIN_SECRET_BYTES = 16;

/** The key files `config` names, each with the option that names it. */
export function keyFilesOf(config: KeyFileOptions): { option: string; file: string }[] {
  const out: { option: string; file: string }[] = [];
  if (config.api.tls_key_file) out.push({ option: '[api] tls_key_file', file: config.api.tls_key_file });
  const r = config.replica;
  if (r.backend !== 'none') {
    if (r.encryption_key_file) out.push({ option: '[replica] encryption_key_file', file: r.encryption_key_file });
    for (const f of r.old_key_files) out.push({ option: '[replica] old_key_files', file: f });
    if (r.backend === 's3' && r.secret_key_file) out.push({ option: '[replica] secret_key_file', file: r.secret_key_file });
  }
  return out;
}

/** One line per key file that group or others may access; empty when all are private. */
export function keyFileProblems(config: KeyFileOptions): string[] {
  const out: string[] = [];
  for (const { option, file } of keyFilesOf(config)) {
    let mode: number;
    try {
      mode = statSync(file).mode & 0o777;
    } catch {
      continue;
    }
    if (mode & 0o077) {
      out.push(
        `${option} ${file}: permissions ${mode.toString(8).padStart(4, '0')} are too open (group or others may access it); ` +
          `it holds a secret: chmod 600 it (owned by the sidecar's user)`,
      );
    }
  }
  return out;
}

/** Problems with secrets set in the file itself: too short to be a secret. */
export function secretProblems(c: { api: { auth_token: string }; peer: { shared_secret: string } }): string[] {
  const out: string[] = [];
  const check = (option: string, v: string) => {
    const n = Buffer.byteLength(v, 'utf8');
    if (v && n < MIN_SECRET_BYTES)
      out.push(`${option}: ${n} bytes is too short for a secret (at least ${MIN_SECRET_BYTES}; e.g. the output of 'openssl rand -hex 32')`);
  };
  check('[api] auth_token', c.api.auth_token);
  check('[peer] shared_secret', c.peer.shared_secret);
  return out;
}
