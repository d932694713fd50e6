// Fails when src/wire/generated.ts is not what openapi-typescript makes from openapi/ now.
import { execFileSync } from 'node:child_process';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'nus-gen-'));
const out = join(dir, 'generated.ts');
try {
  execFileSync(process.execPath, ['node_modules/openapi-typescript/bin/cli.js', 'openapi/nova-uefi-shim.yaml', '--default-non-nullable=false', '-o', out], {
    stdio: 'pipe',
  });
  const fresh = readFileSync(out, 'utf8');
  const committed = readFileSync('src/wire/generated.ts', 'utf8');
  if (fresh !== committed) {
    console.error('src/wire/generated.ts is stale: run `npm run gen:types` and commit the result');
    process.exit(1);
  }
  console.log('generated OpenAPI types are up to date');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
