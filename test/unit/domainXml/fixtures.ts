/**
 * Golden cases under test/fixtures/domainXml: `<case>-in.json` (a DomainSpec without
 * baseXml), optional `<case>-base.xml` (Nova's guest XML, becomes spec.baseXml) and
 * `<case>-out.xml` (the expected domain). Set UPDATE_GOLDEN=1 to rewrite the -out files.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DomainSpec } from '../../../src/domainXml/types';

export const FIXTURE_DIR = path.resolve(__dirname, '../../fixtures/domainXml');

export interface GoldenCase {
  name: string;
  spec: DomainSpec;
  outPath: string;
  basePath?: string;
}

export function goldenCases(): GoldenCase[] {
  return fs
    .readdirSync(FIXTURE_DIR)
    .filter((f) => f.endsWith('-in.json'))
    .sort()
    .map((f) => {
      const name = f.slice(0, -'-in.json'.length);
      const spec = JSON.parse(fs.readFileSync(path.join(FIXTURE_DIR, f), 'utf8')) as DomainSpec;
      const basePath = path.join(FIXTURE_DIR, `${name}-base.xml`);
      const hasBase = fs.existsSync(basePath);
      if (hasBase) spec.baseXml = fs.readFileSync(basePath, 'utf8');
      return { name, spec, outPath: path.join(FIXTURE_DIR, `${name}-out.xml`), ...(hasBase ? { basePath } : {}) };
    });
}
