/**
 * Certificates for the TLS tests, made with openssl(1) in a temp directory: a test CA, leaf
 * certificates it signs for given subject alternative names, and self-signed ones it does
 * not. EC P-256 keys: quick to make.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface CertFiles {
  cert: string;
  key: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Long enough that `doctor` does not warn about a renewal (it does below 14 days). */
const DAYS = 90;

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export class TestCa {
  readonly cert: string;
  private readonly key: string;
  private serial = 1;
  constructor(readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true });
    this.cert = path.join(dir, 'ca.pem');
    this.key = path.join(dir, 'ca.key');
    openssl(
      [
        'req',
        '-x509',
        ...EC,
        '-keyout',
        this.key,
        '-out',
        this.cert,
        '-days',
        String(DAYS),
        '-subj',
        '/CN=nova-uefi-shim test CA',
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      ],
      dir,
    );
  }

  /** A server certificate signed by this CA for `san` (e.g. `IP:127.0.0.1,DNS:localhost`). */
  issue(name: string, san: string): CertFiles {
    const key = path.join(this.dir, `${name}.key`);
    const csr = path.join(this.dir, `${name}.csr`);
    const cert = path.join(this.dir, `${name}.pem`);
    const ext = path.join(this.dir, `${name}.ext`);
    fs.writeFileSync(ext, `subjectAltName=${san}\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n`);
    openssl(['req', ...EC, '-keyout', key, '-out', csr, '-subj', `/CN=${name}`], this.dir);
    openssl(
      [
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        this.cert,
        '-CAkey',
        this.key,
        '-set_serial',
        String(this.serial++),
        '-days',
        String(DAYS),
        '-out',
        cert,
        '-extfile',
        ext,
      ],
      this.dir,
    );
    return { cert, key };
  }
}

/** A self-signed server certificate no CA vouches for. */
export function selfSigned(dir: string, name: string, san: string): CertFiles {
  fs.mkdirSync(dir, { recursive: true });
  const key = path.join(dir, `${name}.key`);
  const cert = path.join(dir, `${name}.pem`);
  openssl(['req', '-x509', ...EC, '-keyout', key, '-out', cert, '-days', String(DAYS), '-subj', `/CN=${name}`, '-addext', `subjectAltName=${san}`], dir);
  return { cert, key };
}
