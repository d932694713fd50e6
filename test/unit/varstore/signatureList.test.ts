/**
 * varstore/signatureList: EFI_SIGNATURE_LIST (UEFI 2.10 §32.4.1) read raw and written back
 * byte for byte, type names, entry-size checks, and the per-database summary.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import {
  TYPE_GUIDS,
  describeCertificate,
  encodeSignatureLists,
  parseSignatureLists,
  readSignatureLists,
  signatureTypeName,
  summariseSignatureLists,
  type RawSignatureList,
} from '../../../src/varstore/signatureList';
import { DecodeError } from '../../../src/varstore/loadOption';
import {
  EFI_CERT_RSA2048,
  EFI_CERT_SHA1,
  EFI_CERT_SHA256,
  EFI_CERT_X509,
  EFI_CERT_X509_SHA256,
  EFI_GLOBAL_VARIABLE as OWNER,
  MICROSOFT_OWNER,
} from '../../../src/varstore/guids';
import { TEST_CERT_DER, sigList } from './builder';

const UNKNOWN_TYPE = '11111111-2222-4333-8444-555555555555';

describe('varstore/signatureList', () => {
  it('names the signature types UEFI defines, and the rest unknown', () => {
    assert.deepEqual([EFI_CERT_X509, EFI_CERT_SHA256, EFI_CERT_SHA1, EFI_CERT_RSA2048, EFI_CERT_X509_SHA256, UNKNOWN_TYPE].map(signatureTypeName), [
      'x509',
      'sha256',
      'sha1',
      'rsa2048',
      'x509-sha256',
      'unknown',
    ]);
    assert.deepEqual(TYPE_GUIDS, { x509: EFI_CERT_X509, sha256: EFI_CERT_SHA256 });
  });

  it('reads lists raw, and writes them back to the same bytes', () => {
    const data = Buffer.concat([
      sigList(EFI_CERT_X509, [[MICROSOFT_OWNER, TEST_CERT_DER]]),
      sigList(EFI_CERT_SHA256, [
        [OWNER, Buffer.alloc(32, 1)],
        [OWNER, Buffer.alloc(32, 2)],
      ]),
    ]);
    const lists = readSignatureLists(data);
    assert.equal(lists.length, 2);
    assert.deepEqual(
      lists.map((l) => [l.type, l.signatureSize, l.entries.length, l.header.length]),
      [
        [EFI_CERT_X509, 16 + TEST_CERT_DER.length, 1, 0],
        [EFI_CERT_SHA256, 48, 2, 0],
      ],
    );
    assert.deepEqual(lists[0].entries[0].data, TEST_CERT_DER);
    assert.deepEqual(encodeSignatureLists(lists), data);
  });

  it('copies the bytes it reads (editing the source afterwards does not change the lists)', () => {
    const data = sigList(EFI_CERT_SHA256, [[OWNER, Buffer.alloc(32, 7)]]);
    const [l] = readSignatureLists(data);
    data.fill(0);
    assert.deepEqual(l.entries[0].data, Buffer.alloc(32, 7));
  });

  it('keeps a SignatureHeader through a round trip', () => {
    const list: RawSignatureList = {
      type: UNKNOWN_TYPE,
      header: Buffer.from('cafe', 'hex'),
      signatureSize: 20,
      entries: [{ owner: OWNER, data: Buffer.from('01020304', 'hex') }],
    };
    const bytes = encodeSignatureLists([list]);
    assert.equal(bytes.length, 28 + 2 + 20);
    assert.equal(bytes.readUInt32LE(16), 50, 'SignatureListSize');
    assert.equal(bytes.readUInt32LE(20), 2, 'SignatureHeaderSize');
    assert.deepEqual(readSignatureLists(bytes), [list]);
  });

  it('leaves lists without entries out when encoding', () => {
    const empty: RawSignatureList = { type: EFI_CERT_SHA256, header: Buffer.alloc(0), signatureSize: 48, entries: [] };
    assert.deepEqual(encodeSignatureLists([empty]), Buffer.alloc(0));
  });

  it('refuses to encode an entry whose size does not match the list', () => {
    const bad: RawSignatureList = { type: EFI_CERT_SHA256, header: Buffer.alloc(0), signatureSize: 48, entries: [{ owner: OWNER, data: Buffer.alloc(20) }] };
    assert.throws(() => encodeSignatureLists([bad]), { name: 'TypeError', message: 'signature entry of 20 bytes in a list of SignatureSize 48' });
  });

  it('reads an empty value as no lists', () => assert.deepEqual(readSignatureLists(Buffer.alloc(0)), []));

  it('refuses a SignatureHeaderSize larger than the list', () => {
    const b = sigList(EFI_CERT_SHA256, [[OWNER, Buffer.alloc(32)]]);
    b.writeUInt32LE(100, 20);
    assert.throws(
      () => readSignatureLists(b),
      (e: unknown) => e instanceof DecodeError && /SignatureHeaderSize 100/.test(e.message),
    );
  });

  it('refuses a SignatureListSize below the 28-byte header', () => {
    const b = sigList(EFI_CERT_SHA256, [[OWNER, Buffer.alloc(32)]]);
    b.writeUInt32LE(27, 16);
    assert.throws(() => readSignatureLists(b), /SignatureListSize 27 out of bounds/);
  });

  it('describes a certificate by subject, issuer, expiry and SHA-256 of the DER', () => {
    assert.deepEqual(describeCertificate(TEST_CERT_DER), {
      subject: 'O=Nova Test, CN=Nova Test PK',
      issuer: 'O=Nova Test, CN=Nova Test PK',
      not_after: '2126-11-03T02:35:01.000Z',
      sha256: createHash('sha256').update(TEST_CERT_DER).digest('hex'),
    });
  });

  it('parses hash and unknown entries as hex data', () => {
    const lists = parseSignatureLists(
      Buffer.concat([sigList(EFI_CERT_SHA1, [[OWNER, Buffer.alloc(20, 0xaa)]]), sigList(UNKNOWN_TYPE, [[OWNER, Buffer.from('0102', 'hex')]])]),
    );
    assert.deepEqual(lists, [
      { type: EFI_CERT_SHA1, type_name: 'sha1', entries: [{ owner: OWNER, type: 'sha1', data: 'aa'.repeat(20) }] },
      { type: UNKNOWN_TYPE, type_name: 'unknown', entries: [{ owner: OWNER, type: 'unknown', data: '0102' }] },
    ]);
  });

  it('summarises certificates with owners, counts SHA-256 entries, and counts the rest by kind', () => {
    const lists = parseSignatureLists(
      Buffer.concat([
        sigList(EFI_CERT_X509, [[MICROSOFT_OWNER, TEST_CERT_DER]]),
        sigList(EFI_CERT_X509, [[OWNER, Buffer.from('3003020101', 'hex')]]),
        sigList(EFI_CERT_SHA256, [
          [OWNER, Buffer.alloc(32)],
          [OWNER, Buffer.alloc(32, 1)],
          [OWNER, Buffer.alloc(32, 2)],
        ]),
        sigList(EFI_CERT_SHA1, [[OWNER, Buffer.alloc(20)]]),
        sigList(UNKNOWN_TYPE, [[OWNER, Buffer.alloc(4)]]),
      ]),
    );
    const s = summariseSignatureLists(lists);
    assert.deepEqual(
      s.certificates.map((c) => [c.subject, c.owner]),
      [['O=Nova Test, CN=Nova Test PK', MICROSOFT_OWNER]],
    );
    assert.equal(s.sha256_count, 3);
    assert.deepEqual(s.other, { 'x509-unreadable': 1, sha1: 1, [UNKNOWN_TYPE]: 1 });
  });
});
