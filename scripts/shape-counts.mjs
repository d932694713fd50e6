// Shape counts of src/, computed the same way before and after a reshape of the driver room
// (`node scripts/shape-counts.mjs`, `--json` for a machine-readable line). Each count names
// what it measures; src/wire/generated.ts (openapi-typescript's output) is left out of the
// line counts and the untested-module list, since nobody writes it by hand.
import { readFileSync, readdirSync, existsSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

const root = process.cwd();
const GENERATED = 'src/wire/generated.ts';

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (p.endsWith('.ts')) out.push(relative(root, p));
  }
  return out.sort();
}

const files = walk(join(root, 'src'));
const handWritten = files.filter((f) => f !== GENERATED);
const text = new Map(files.map((f) => [f, readFileSync(f, 'utf8')]));
const parse = (f) => ts.createSourceFile(f, text.get(f), ts.ScriptTarget.Latest, true);

/** Method and property signatures of the interface the Nova contract is declared as. */
function contractMethods() {
  const f = 'src/driver/contract.ts';
  if (!text.has(f)) return null;
  const sf = parse(f);
  let n = 0;
  sf.forEachChild(function visit(node) {
    if (ts.isInterfaceDeclaration(node) && node.name.text === 'ComputeDriver') {
      n = node.members.filter((m) => ts.isMethodSignature(m) || ts.isPropertySignature(m)).length;
    }
  });
  return n;
}

/** Calls of the replica scheduler's verbs made by flows (src/driver/; the scheduler lived there until it moved to src/replica/). */
function replicaCallsInFlows() {
  const re = /\.(enqueue|adopt|forget|deleteAll|writeNow)\(/g;
  const hits = [];
  for (const f of handWritten) {
    if (!f.startsWith('src/driver/') || f === 'src/driver/replicas.ts') continue; // the old home of the scheduler, excluded before the move
    text
      .get(f)
      .split('\n')
      .forEach((line, i) => {
        if (re.test(line)) hits.push(`${f}:${i + 1}`);
        re.lastIndex = 0;
      });
  }
  return hits;
}

/**
 * Where `re` (global) matches the whole text of each file, the match may span lines; reported
 * at the line it starts on.
 */
function grepText(re) {
  const hits = [];
  for (const f of handWritten) {
    const t = text.get(f);
    for (const m of t.matchAll(re)) hits.push(`${f}:${t.slice(0, m.index).split('\n').length}`);
  }
  return hits;
}

function grepLines(re) {
  const hits = [];
  for (const f of handWritten)
    text
      .get(f)
      .split('\n')
      .forEach((line, i) => {
        if (re.test(line)) hits.push(`${f}:${i + 1}`);
      });
  return hits;
}

/**
 * String-typed states: a property, parameter or variable whose name ends in state/status/phase
 * (vm_state, status, ...) declared as plain `string` (alone or with null/undefined), i.e. a
 * state the type checker cannot tell from any other text.
 */
function stringTypedStates() {
  const hits = [];
  const isStringish = (t) => {
    if (!t) return false;
    if (t.kind === ts.SyntaxKind.StringKeyword) return true;
    if (ts.isUnionTypeNode(t))
      return (
        t.types.some((x) => x.kind === ts.SyntaxKind.StringKeyword) &&
        t.types.every(
          (x) =>
            x.kind === ts.SyntaxKind.StringKeyword ||
            x.kind === ts.SyntaxKind.UndefinedKeyword ||
            (ts.isLiteralTypeNode(x) && x.literal.kind === ts.SyntaxKind.NullKeyword),
        )
      );
    return false;
  };
  for (const f of handWritten) {
    const sf = parse(f);
    const visit = (node) => {
      if (
        (ts.isPropertySignature(node) || ts.isPropertyDeclaration(node) || ts.isParameter(node) || ts.isVariableDeclaration(node)) &&
        node.name &&
        ts.isIdentifier(node.name)
      ) {
        if (/(state|status|phase)$/i.test(node.name.text) && isStringish(node.type)) {
          hits.push(`${f}:${sf.getLineAndCharacterOfPosition(node.getStart()).line + 1} ${node.name.text}`);
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return hits;
}

/**
 * Peer paths written outside the protocol's module: string and template literals holding
 * `/v1/peer/` anywhere in src/ but src/peer/protocol.ts (where the paths are declared once,
 * for the client and the routes). Comments do not count.
 */
function peerPathLiterals() {
  const hits = [];
  for (const f of handWritten) {
    if (f === 'src/peer/protocol.ts') continue;
    const sf = parse(f);
    const visit = (node) => {
      if ((ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node) || ts.isTemplateExpression(node)) && node.getText(sf).includes('/v1/peer')) {
        hits.push(`${f}:${sf.getLineAndCharacterOfPosition(node.getStart()).line + 1}`);
        return;
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return hits;
}

/** Modules of src/ with no test/unit/<same path>.test.ts (the mirror STYLE R12 asks for). */
function untestedModules() {
  return handWritten.filter((f) => !existsSync(f.replace(/^src\//, 'test/unit/').replace(/\.ts$/, '.test.ts')));
}

/** The longest function (declaration, method, arrow or function expression), in lines. */
function longestFunction() {
  let best = { lines: 0, where: '' };
  for (const f of handWritten) {
    const sf = parse(f);
    const visit = (node) => {
      if (
        ts.isFunctionDeclaration(node) ||
        ts.isMethodDeclaration(node) ||
        ts.isArrowFunction(node) ||
        ts.isFunctionExpression(node) ||
        ts.isConstructorDeclaration(node)
      ) {
        if (node.body) {
          const a = sf.getLineAndCharacterOfPosition(node.getStart()).line;
          const b = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
          const lines = b - a + 1;
          if (lines > best.lines) {
            let name = node.name && ts.isIdentifier(node.name) ? node.name.text : '';
            if (!name && node.parent && ts.isVariableDeclaration(node.parent) && ts.isIdentifier(node.parent.name)) name = node.parent.name.text;
            best = { lines, where: `${f}:${a + 1} ${name || '(anonymous)'}` };
          }
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return best;
}

function filesOver(n) {
  return handWritten.map((f) => ({ f, lines: text.get(f).split('\n').length - (text.get(f).endsWith('\n') ? 1 : 0) })).filter((x) => x.lines > n);
}

const counts = {
  nova_contract_methods: contractMethods(),
  replica_calls_in_flows: replicaCallsInFlows(),
  as_unknown_as: grepLines(/as unknown as/),
  string_typed_states: stringTypedStates(),
  deleted_kept_checks: grepLines(/deleted-kept/),
  // An error built from a Nova exception name where its class exists: `new NovaError('Name', …)`
  // with the name on the same line or the next (prettier breaks long calls), and an unchecked
  // `as NovaError` cast of a caught value. The base class re-raising a peer's own type (a
  // variable, not a literal) is what it is for, and is not counted.
  peer_path_literals: peerPathLiterals(),
  string_built_errors: grepText(/new NovaError\(\s*'|\bas NovaError\b/g),
  modules_without_unit_test: untestedModules(),
  longest_function: longestFunction(),
  files_over_400_lines: filesOver(400).map((x) => `${x.f} (${x.lines})`),
};

if (process.argv.includes('--json')) {
  console.log(JSON.stringify(counts));
} else {
  const n = (v) => (Array.isArray(v) ? v.length : v);
  console.log(`methods on the Nova contract (ComputeDriver):        ${counts.nova_contract_methods}`);
  console.log(`replica calls inside flows (driver/ minus replicas): ${n(counts.replica_calls_in_flows)}`);
  console.log(`'as unknown as' in src/:                             ${n(counts.as_unknown_as)}`);
  console.log(`string-typed states (…state/status/phase: string):   ${n(counts.string_typed_states)}`);
  console.log(`'deleted-kept' tombstone sites:                      ${n(counts.deleted_kept_checks)}`);
  console.log(`peer paths written outside peer/protocol:             ${n(counts.peer_path_literals)}`);
  console.log(`errors built from a name (new NovaError('…')):       ${n(counts.string_built_errors)}`);
  console.log(`modules of src/ without a unit test of their own:    ${n(counts.modules_without_unit_test)} of ${handWritten.length}`);
  console.log(`longest function:                                    ${counts.longest_function.lines} lines (${counts.longest_function.where})`);
  console.log(`files over 400 lines:                                ${n(counts.files_over_400_lines)}`);
  if (process.argv.includes('-v')) {
    for (const [k, v] of Object.entries(counts)) if (Array.isArray(v)) console.log(`\n${k}:\n  ${v.join('\n  ')}`);
  }
}
