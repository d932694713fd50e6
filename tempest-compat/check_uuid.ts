/**
 * @module tempest-compat/check_uuid
 * tempest's `check-uuid`: every `test_*` method in tempest-compat test modules must carry
 * exactly one `@idempotentId('<uuid4>')`, unique across the suite. Exits 1 listing the
 * offenders; `--fix` inserts a fresh uuid4 above the decorators of each test that lacks one.
 *
 * Usage: node --import tsx tempest-compat/check_uuid.ts [--fix] [--package DIR]
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

const TEST_DEF = /^(\s*)(?:async\s+)?(test_\w+)\s*\(/;
const ID_DECO = /^\s*@idempotentId\(\s*['"]([^'"]*)['"]\s*\)/;
const UUID4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

export interface Problem {
  file: string;
  line: number;
  test: string;
  message: string;
}

function testFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory() && e.name !== 'lib' && e.name !== 'node_modules') out.push(...testFiles(p));
    else if (e.isFile() && /^test_.*\.ts$/.test(e.name)) out.push(p);
  }
  return out.sort();
}

/** Checks (and with fix, repairs) the files; returns problems left after any fixing. */
export function checkUuids(root: string, fix: boolean, log: (s: string) => void = () => {}): Problem[] {
  const problems: Problem[] = [];
  const seen = new Map<string, string>();
  for (const file of testFiles(root)) {
    const lines = fs.readFileSync(file, 'utf8').split('\n');
    let changed = false;
    for (let i = 0; i < lines.length; i++) {
      const m = TEST_DEF.exec(lines[i]);
      if (!m) continue;
      const [, indent, test] = m as unknown as [string, string, string];
      // decorator block directly above (comments allowed in between)
      let top = i;
      while (top > 0 && /^\s*(@|\/\/)/.test(lines[top - 1])) top--;
      const decoLines = lines
        .slice(top, i)
        .map((l, k) => ({ l, n: top + k }))
        .filter((x) => ID_DECO.test(x.l));
      const rel = path.relative(process.cwd(), file);
      if (decoLines.length === 0) {
        if (fix) {
          let at = top;
          while (at < i && /^\s*\/\//.test(lines[at])) at++; // keep `// mirrors:` comments above
          const id = randomUUID();
          lines.splice(at, 0, `${indent}@idempotentId('${id}')`);
          seen.set(id, `${rel}:${test}`);
          changed = true;
          log(`${rel}: ${test}: added idempotent id ${id}`);
          i++;
        } else problems.push({ file: rel, line: i + 1, test, message: 'missing @idempotentId' });
        continue;
      }
      if (decoLines.length > 1) problems.push({ file: rel, line: i + 1, test, message: 'more than one @idempotentId' });
      const id = ID_DECO.exec(decoLines[0].l)![1];
      if (!UUID4.test(id)) problems.push({ file: rel, line: decoLines[0].n + 1, test, message: `not a lower-case uuid4: ${id}` });
      const prev = seen.get(id);
      if (prev) problems.push({ file: rel, line: decoLines[0].n + 1, test, message: `duplicate idempotent id ${id} (also ${prev})` });
      else seen.set(id, `${rel}:${test}`);
    }
    if (changed) {
      let text = lines.join('\n');
      if (!/\bidempotentId\b[^;]*from ['"][./]*lib\/test['"]/.test(text)) {
        text = text.replace(
          /import \{([^}]*)\} from (['"][./]*lib\/test['"]);/,
          (_a, names: string, from: string) => `import {${names.trimEnd()}, idempotentId } from ${from};`,
        );
      }
      fs.writeFileSync(file, text);
    }
  }
  return problems;
}

function main(): void {
  const args = process.argv.slice(2);
  const fix = args.includes('--fix');
  const pi = args.indexOf('--package');
  const root = pi >= 0 ? path.resolve(args[pi + 1] ?? '.') : __dirname;
  const problems = checkUuids(root, fix, (s) => console.log(s));
  for (const p of problems) console.error(`${p.file}:${p.line}: ${p.test}: ${p.message}`);
  if (problems.length) {
    console.error(`${problems.length} problem(s)${fix ? '' : '; run with --fix to add missing ids'}`);
    process.exit(1);
  }
  console.log('idempotent ids: OK');
}

if (require.main === module) main();
