/**
 * Secure Boot test keys made with openssl (as ../shared/reference/secure-boot-proof.md does):
 * self-signed certificates in PEM and DER with their keys, in one temp directory per process
 * (removed at exit), each made once and reused by name.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface TestCert {
  name: string;
  /** PEM certificate file. */
  crt: string;
  /** DER certificate file. */
  der: string;
  key: string;
  pem: string;
  derBytes: Buffer;
}

let dir: string | undefined;
const made = new Map<string, TestCert>();

export function keyDir(): string {
  if (!dir) {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'nus-sbkeys-'));
    dir = d;
    process.once('exit', () => fs.rmSync(d, { recursive: true, force: true }));
  }
  return dir;
}

/** A self-signed certificate `CN=<name>`; `newkey` as openssl takes it (default rsa:2048). */
export function testCert(name: string, opts: { newkey?: string[]; days?: number } = {}): TestCert {
  const hit = made.get(name);
  if (hit) return hit;
  const d = keyDir();
  const crt = path.join(d, `${name}.crt`);
  const key = path.join(d, `${name}.key`);
  const der = path.join(d, `${name}.der`);
  const newkey = opts.newkey ?? ['-newkey', 'rsa:2048'];
  execFileSync(
    'openssl',
    ['req', '-new', '-x509', ...newkey, '-nodes', '-sha256', '-days', String(opts.days ?? 3650), '-subj', `/CN=${name}/`, '-keyout', key, '-out', crt],
    { stdio: 'ignore' },
  );
  execFileSync('openssl', ['x509', '-in', crt, '-outform', 'DER', '-out', der], { stdio: 'ignore' });
  const c = { name, crt, der, key, pem: fs.readFileSync(crt, 'utf8'), derBytes: fs.readFileSync(der) };
  made.set(name, c);
  return c;
}

/** An EC (P-256) certificate: a key type edk2 cannot use. */
export function ecCert(name: string): TestCert {
  return testCert(name, { newkey: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'] });
}

/** A 1024-bit RSA certificate: too small for edk2. */
export function smallRsaCert(name: string): TestCert {
  return testCert(name, { newkey: ['-newkey', 'rsa:1024'] });
}

export const OWNER = '11111111-2222-3333-4444-555555555555';
