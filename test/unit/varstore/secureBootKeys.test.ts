/**
 * varstore/secureBootKeys: key material (PEM, DER, signature lists, SHA-256 hex) turned into
 * signature items and checked the way edk2 will use them: RSA 2048..4096 only, dates checked
 * unless allowed, hashes only in db/dbx, one PK. Certificates are made with openssl.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import {
  KEY_DBS,
  RSA_MAX_BITS,
  RSA_MIN_BITS,
  certificateInfo,
  certificateProblem,
  checkItems,
  itemTypeGuid,
  parseKeyMaterial,
  sameItem,
  typeProblem,
  type MaterialResult,
  type SignatureItem,
} from '../../../src/varstore/secureBootKeys';
import { EFI_CERT_SHA1, EFI_CERT_SHA256, EFI_CERT_X509 } from '../../../src/varstore/guids';
import { OWNER, ecCert, smallRsaCert, testCert } from '../../support/sbKeys';
import { TEST_CERT_DER, sigList } from './builder';

/** A day from now: certificates made during the run are valid then (their notBefore is their creation second). */
const NOW = { now: new Date(Date.now() + 86400_000) };
const HASH = 'ab'.repeat(32);
const ESL_OWNER = '99999999-8888-4777-8666-555555555555';

function items(r: MaterialResult): SignatureItem[] {
  assert.ok('items' in r, `expected items, got problem: ${'problem' in r ? r.problem : ''}`);
  return r.items;
}
function problem(r: MaterialResult): string {
  assert.ok('problem' in r, 'expected a problem');
  return r.problem;
}

describe('varstore/secureBootKeys', () => {
  it('names the four databases and the RSA range edk2 verifies', () => {
    assert.deepEqual(KEY_DBS, ['PK', 'KEK', 'db', 'dbx']);
    assert.deepEqual([RSA_MIN_BITS, RSA_MAX_BITS], [2048, 4096]);
  });

  describe('certificateProblem', () => {
    it('takes an RSA-2048 certificate that is valid now', () => assert.equal(certificateProblem(testCert('sbk-ok').derBytes, NOW), undefined));
    it('refuses an EC key', () =>
      assert.match(certificateProblem(ecCert('sbk-ec').derBytes, NOW) ?? '', /^wrong key type: ec \(edk2 verifies RSA keys only\)$/));
    it('refuses RSA-1024', () =>
      assert.equal(certificateProblem(smallRsaCert('sbk-small').derBytes, NOW), 'RSA-1024 key: edk2 needs RSA of 2048 to 4096 bits'));
    it('refuses bytes that are not a certificate', () => assert.equal(certificateProblem(Buffer.from('3003020101', 'hex'), NOW), 'not an X.509 certificate'));

    it('refuses an expired or not-yet-valid certificate unless allowed, naming the date and subject', () => {
      const der = testCert('sbk-dates', { days: 30 }).derBytes;
      const later = new Date(Date.now() + 60 * 86400_000);
      const earlier = new Date(Date.now() - 86400_000);
      assert.match(certificateProblem(der, { now: later }) ?? '', /^expired on \d{4}-.*Z: CN=sbk-dates$/);
      assert.match(certificateProblem(der, { now: earlier }) ?? '', /^not yet valid \(from \d{4}-.*Z\): CN=sbk-dates$/);
      assert.equal(certificateProblem(der, { now: later, allowExpired: true }), undefined);
    });
  });

  describe('parseKeyMaterial', () => {
    const c = () => testCert('sbk-ok');

    it('reads a PEM certificate, owner in lower case', () => {
      const [it1] = items(parseKeyMaterial(c().pem, 'KEK', OWNER.toUpperCase(), NOW));
      assert.deepEqual(it1, { type: 'x509', owner: OWNER.toLowerCase(), data: c().derBytes.toString('hex') });
    });

    it('reads several PEM certificates from one text', () => {
      const two = `${c().pem}\n${testCert('sbk-two').pem}`;
      assert.equal(items(parseKeyMaterial(two, 'db', OWNER, NOW)).length, 2);
    });

    it('reads PEM given as bytes, and a DER certificate', () => {
      assert.equal(items(parseKeyMaterial(Buffer.from(c().pem), 'db', OWNER, NOW))[0].data, c().derBytes.toString('hex'));
      assert.equal(items(parseKeyMaterial(c().derBytes, 'db', OWNER, NOW))[0].data, c().derBytes.toString('hex'));
    });

    it('reads a SHA-256 hash for db and dbx, in lower case', () => {
      for (const db of ['db', 'dbx'] as const)
        assert.deepEqual(items(parseKeyMaterial(`  ${HASH.toUpperCase()}\n`, db, OWNER, NOW)), [{ type: 'sha256', owner: OWNER, data: HASH }]);
    });

    it('refuses a hash for PK and KEK', () => {
      assert.equal(problem(parseKeyMaterial(HASH, 'PK', OWNER, NOW)), 'PK holds X.509 certificates, not hashes');
      assert.equal(problem(parseKeyMaterial(HASH, 'KEK', OWNER, NOW)), 'KEK holds X.509 certificates, not hashes');
    });

    it('reads an EFI signature list, keeping each entry its own owner', () => {
      const esl = Buffer.concat([sigList(EFI_CERT_X509, [[ESL_OWNER, c().derBytes]]), sigList(EFI_CERT_SHA256, [[ESL_OWNER, Buffer.alloc(32, 1)]])]);
      assert.deepEqual(items(parseKeyMaterial(esl, 'db', OWNER, NOW)), [
        { type: 'x509', owner: ESL_OWNER, data: c().derBytes.toString('hex') },
        { type: 'sha256', owner: ESL_OWNER, data: '01'.repeat(32) },
      ]);
    });

    const refused: Array<[string, () => Buffer | string, RegExp]> = [
      ['a private key in PEM', () => '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n', /PEM block 'PRIVATE KEY' is not a CERTIFICATE/],
      ['text that is neither PEM nor a hash', () => 'hello', /^not a PEM certificate or a SHA-256 hash \(64 hex digits\)$/],
      ['a hash of 63 hex digits', () => HASH.slice(1), /^not a PEM certificate or a SHA-256 hash/],
      ['a SHA-1 signature list', () => sigList(EFI_CERT_SHA1, [[OWNER, Buffer.alloc(20)]]), /signature type sha1 is not supported \(x509, sha256\)/],
      [
        'bytes that are nothing',
        () => Buffer.from('garbage bytes that are not anything at all'),
        /^not a certificate \(PEM or DER\), an EFI signature list or a SHA-256 hash: /,
      ],
      ['an EC certificate', () => ecCert('sbk-ec').pem, /^wrong key type: ec/],
    ];
    for (const [title, input, re] of refused) it(`refuses ${title}`, () => assert.match(problem(parseKeyMaterial(input(), 'db', OWNER, NOW)), re));

    it('refuses an owner that is not a GUID before reading anything', () => {
      assert.equal(problem(parseKeyMaterial(c().pem, 'db', 'owner', NOW)), 'owner is not a GUID');
    });

    it('refuses two certificates for PK', () => {
      assert.equal(problem(parseKeyMaterial(`${c().pem}${testCert('sbk-two').pem}`, 'PK', OWNER, NOW)), 'PK holds exactly one certificate, got 2');
    });
  });

  describe('items', () => {
    const cert: SignatureItem = { type: 'x509', owner: OWNER, data: TEST_CERT_DER.toString('hex') };

    it('typeProblem refuses a hash of the wrong size in db', () => {
      assert.equal(typeProblem([{ type: 'sha256', owner: OWNER, data: 'ab'.repeat(20) }], 'db'), 'a SHA-256 hash is 32 bytes (64 hex digits), got 20 bytes');
      assert.equal(typeProblem([{ type: 'sha256', owner: OWNER, data: HASH }], 'dbx'), undefined);
      assert.equal(typeProblem([cert], 'PK'), undefined);
    });

    it('checkItems checks the certificates too (the test certificate is EC: refused)', () => {
      assert.match(problem(checkItems([cert], 'db', NOW)), /^wrong key type: ec/);
    });

    it('certificateInfo describes an X.509 item, and nothing for hashes or unreadable data', () => {
      assert.deepEqual(certificateInfo(cert), {
        subject: 'O=Nova Test, CN=Nova Test PK',
        issuer: 'O=Nova Test, CN=Nova Test PK',
        not_after: '2126-11-03T02:35:01.000Z',
        sha256: createHash('sha256').update(TEST_CERT_DER).digest('hex'),
      });
      assert.equal(certificateInfo({ type: 'sha256', owner: OWNER, data: HASH }), undefined);
      assert.equal(certificateInfo({ type: 'x509', owner: OWNER, data: '3003' }), undefined);
    });

    it('sameItem compares type and data, not the owner', () => {
      const otherOwner: SignatureItem = { ...cert, owner: ESL_OWNER };
      assert.equal(sameItem(cert, otherOwner), true);
      assert.equal(sameItem(cert, { ...cert, data: HASH }), false);
      assert.equal(sameItem({ type: 'sha256', data: HASH }, { type: 'x509', data: HASH }), false);
    });

    it('itemTypeGuid gives the EFI_CERT GUID of each type', () => {
      assert.equal(itemTypeGuid('x509'), EFI_CERT_X509);
      assert.equal(itemTypeGuid('sha256'), EFI_CERT_SHA256);
    });
  });
});
