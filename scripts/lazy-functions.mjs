// A post-pass over the compiled CLI's bundle (see scripts/bundle.mjs).
//
// esbuild hoists the function declarations of every lazily initialised module
// (`var init_x = __esm(...)`) to the bundle's top level, so each start creates
// all ~430 of them as closures before `main` runs, though a verb needs few:
// ~0.2 ms of the compiled CLI's start here. Each such function becomes an
// assignment at the head of its module's init function instead (a `var` stays
// where it was). Nothing can call it earlier: every importer of a lazy module
// calls its init first, and the assignments precede the init's own imports,
// so a circular import sees them as it saw the hoisted declarations.
//
// Only functions followed by nothing but other functions and initialiser-free
// `var` statements up to their own module's init move; anything else is left
// where it is. Parsed with TypeScript's parser (a dev dependency, as is this
// step), so nothing in strings or comments is mistaken for code.
import { readFileSync, writeFileSync } from 'node:fs';
import ts from 'typescript';

/** The init's method body if `st` is `var init_x = __esm({ "path"() { ... } })`. */
function esmInitBody(st) {
  if (!ts.isVariableStatement(st) || st.declarationList.declarations.length !== 1) return undefined;
  const d = st.declarationList.declarations[0];
  if (!ts.isIdentifier(d.name) || !d.name.text.startsWith('init_') || !d.initializer || !ts.isCallExpression(d.initializer)) return undefined;
  const call = d.initializer;
  if (!ts.isIdentifier(call.expression) || call.expression.text !== '__esm' || call.arguments.length !== 1) return undefined;
  const obj = call.arguments[0];
  if (!ts.isObjectLiteralExpression(obj) || obj.properties.length !== 1) return undefined;
  const m = obj.properties[0];
  return ts.isMethodDeclaration(m) && m.body ? m.body : undefined;
}

const bareVars = (st) => ts.isVariableStatement(st) && st.declarationList.declarations.every((d) => !d.initializer && ts.isIdentifier(d.name));

export function lazyFunctions(file) {
  const code = readFileSync(file, 'utf8');
  const sf = ts.createSourceFile(file, code, ts.ScriptTarget.ESNext, true, ts.ScriptKind.JS);
  const edits = []; // { at, end, text }: replace code[at, end) with text
  let pending = [];
  let moved = 0;
  for (const st of sf.statements) {
    // esbuild's `// src/x.ts` line starts each module: functions never move across one.
    if (/^\/\/ (?:src|node_modules)\//m.test(code.slice(st.getFullStart(), st.getStart(sf)))) pending = [];
    if (ts.isFunctionDeclaration(st) && st.name && st.body) {
      pending.push(st);
      continue;
    }
    if (bareVars(st)) continue;
    const body = esmInitBody(st);
    if (body && pending.length) {
      const first = body.statements[0];
      const directive = first && ts.isExpressionStatement(first) && ts.isStringLiteral(first.expression) ? first : undefined;
      const at = directive ? directive.getEnd() : body.getStart(sf) + 1;
      const text = pending.map((f) => `\n${f.name.text} = ${code.slice(f.getStart(sf), f.getEnd())};`).join('');
      edits.push({ at, end: at, text });
      for (const f of pending) edits.push({ at: f.getStart(sf), end: f.getEnd(), text: `var ${f.name.text};` });
      moved += pending.length;
    }
    pending = [];
  }
  edits.sort((a, b) => b.at - a.at);
  let out = code;
  for (const e of edits) out = out.slice(0, e.at) + e.text + out.slice(e.end);
  writeFileSync(file, out);
  return moved;
}
