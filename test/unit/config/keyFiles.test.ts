/**
 * config/keyFiles: key files that group or others may access are refused by name (as OpenSSH
 * refuses an unprotected private key), and secrets written in the config file must be long
 * enough to be secrets. Real files with real modes.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MIN_SECRET_BYTES, keyFileProblems, keyFilesOf, secretProblems } from '../../../src/config/keyFiles';

type Options = Parameters<typeof keyFilesOf>[0];
const opts = (api: Partial<Options['api']>, replica: Partial<Options['replica']>): Options => ({
  api: { tls_key_file: '', ...api },
  replica: { backend: 'none', encryption_key_file: '', old_key_files: [], secret_key_file: '', ...replica },
});

describe('config/keyFiles', () => {
  describe('keyFilesOf', () => {
    it('lists nothing for a default configuration', () => assert.deepEqual(keyFilesOf(opts({}, {})), []));

    it('lists the TLS key whatever the replica backend', () => {
      assert.deepEqual(keyFilesOf(opts({ tls_key_file: '/etc/k.pem' }, {})), [{ option: '[api] tls_key_file', file: '/etc/k.pem' }]);
    });

    it('ignores replica key files while the backend is none', () => {
      assert.deepEqual(keyFilesOf(opts({}, { encryption_key_file: '/k', old_key_files: ['/o'], secret_key_file: '/s' })), []);
    });

    it('lists the replica keys of a directory backend, but not the S3 secret key file', () => {
      assert.deepEqual(keyFilesOf(opts({}, { backend: 'directory', encryption_key_file: '/k', old_key_files: ['/o1', '/o2'], secret_key_file: '/s' })), [
        { option: '[replica] encryption_key_file', file: '/k' },
        { option: '[replica] old_key_files', file: '/o1' },
        { option: '[replica] old_key_files', file: '/o2' },
      ]);
    });

    it('lists the S3 secret key file of an s3 backend', () => {
      assert.deepEqual(
        keyFilesOf(opts({}, { backend: 's3', encryption_key_file: '/k', secret_key_file: '/s' })).map((x) => x.option),
        ['[replica] encryption_key_file', '[replica] secret_key_file'],
      );
    });
  });

  describe('keyFileProblems', () => {
    let dir: string;
    beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nus-keyfiles-'))));
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));
    const file = (name: string, mode: number) => {
      const f = path.join(dir, name);
      fs.writeFileSync(f, 'x');
      fs.chmodSync(f, mode);
      return f;
    };

    for (const mode of [0o600, 0o400, 0o700]) {
      it(`takes a key file of mode ${mode.toString(8)}`, () => {
        assert.deepEqual(keyFileProblems(opts({ tls_key_file: file('k', mode) }, {})), []);
      });
    }

    for (const mode of [0o640, 0o604, 0o660, 0o644, 0o601, 0o610]) {
      it(`refuses a key file of mode ${mode.toString(8)}, naming option, file and mode`, () => {
        const f = file('k', mode);
        const p = keyFileProblems(opts({}, { backend: 'directory', encryption_key_file: f }));
        assert.equal(p.length, 1);
        assert.equal(
          p[0],
          `[replica] encryption_key_file ${f}: permissions 0${mode.toString(8)} are too open (group or others may access it); it holds a secret: chmod 600 it (owned by the sidecar's user)`,
        );
      });
    }

    it('leaves a missing file to the code that reads it', () => {
      assert.deepEqual(keyFileProblems(opts({ tls_key_file: path.join(dir, 'absent') }, {})), []);
    });

    it('reports every open file, one line each', () => {
      const p = keyFileProblems(
        opts({ tls_key_file: file('tls', 0o644) }, { backend: 's3', encryption_key_file: file('k', 0o600), secret_key_file: file('s', 0o640) }),
      );
      assert.deepEqual(
        p.map((l) => l.split(' ').slice(0, 2).join(' ')),
        ['[api] tls_key_file', '[replica] secret_key_file'],
      );
    });
  });

  describe('secretProblems', () => {
    it(`takes unset secrets and secrets of at least ${MIN_SECRET_BYTES} bytes`, () => {
      assert.deepEqual(secretProblems({ api: { auth_token: '' }, peer: { shared_secret: '' } }), []);
      assert.deepEqual(secretProblems({ api: { auth_token: 'x'.repeat(16) }, peer: { shared_secret: 'y'.repeat(64) } }), []);
    });

    it('refuses a short token and a short shared secret, naming each and its length', () => {
      assert.deepEqual(secretProblems({ api: { auth_token: 'short' }, peer: { shared_secret: 'x'.repeat(15) } }), [
        "[api] auth_token: 5 bytes is too short for a secret (at least 16; e.g. the output of 'openssl rand -hex 32')",
        "[peer] shared_secret: 15 bytes is too short for a secret (at least 16; e.g. the output of 'openssl rand -hex 32')",
      ]);
    });

    it('counts bytes, not characters', () => {
      // 8 characters of 2 UTF-8 bytes each: 16 bytes.
      assert.deepEqual(secretProblems({ api: { auth_token: 'é'.repeat(8) }, peer: { shared_secret: '' } }), []);
      assert.equal(secretProblems({ api: { auth_token: 'é'.repeat(7) }, peer: { shared_secret: '' } }).length, 1);
    });
  });
});
