// scripts/build.mjs's split of a module it loads on first use (lazyGroups there): what
// dist/index.js must hold when it loads — the module's exported values that are not functions
// (classes, feature objects, constants), statements run for their effects, and every
// declaration of the module these use — is its "eager" part, kept in the index; the rest
// (the exported functions and what only they use) is its "lazy" part, in the group's chunk,
// which imports the eager part's names from the index. Both are the module's own text with
// the other part's statements blanked (spaces, newlines kept), so lines and source maps stay
// those of src/.
import { readFileSync } from 'node:fs';
import ts from 'typescript';

/**
 * @param {string} path
 * @param {string[] | undefined} indexUses
 * @returns {{ eager: string | null, lazy: string, eagerNames: string[], eagerExports: string[] | null, lazyFunctions: string[], stubs: string[] }}
 * stubs: functions the eager part's classes call from their methods, which it imports from
 * stand-ins (module `ebpf-ts-stubs:<path>`).
 * eagerExports: the names the eager part exports as the module did (null: it has an
 * `export *`, so everything it exports).
 */
export function splitModule(path, indexUses = undefined) {
  const text = readFileSync(path, 'utf8');
  const sf = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const modifiers = (n) => (ts.canHaveModifiers(n) ? (ts.getModifiers(n) ?? []) : []);
  const has = (n, k) => modifiers(n).some((m) => m.kind === k);
  const decls = [];
  for (const st of sf.statements) {
    // Imports and types: in both parts (esbuild drops the imports a part does not use).
    if (ts.isImportDeclaration(st) || ts.isImportEqualsDeclaration(st) || ts.isInterfaceDeclaration(st) || ts.isTypeAliasDeclaration(st) || has(st, ts.SyntaxKind.DeclareKeyword) || (ts.isExportDeclaration(st) && st.isTypeOnly)) continue;
    const names = [];
    const fn = ts.isFunctionDeclaration(st);
    if ((fn || ts.isClassDeclaration(st) || ts.isEnumDeclaration(st)) && st.name !== undefined) names.push(st.name.text);
    else if (ts.isVariableStatement(st)) {
      const bind = (b) => (ts.isIdentifier(b) ? names.push(b.text) : b.elements.forEach((e) => ts.isBindingElement(e) && bind(e.name)));
      for (const d of st.declarationList.declarations) bind(d.name);
    }
    const exported = has(st, ts.SyntaxKind.ExportKeyword);
    // indexUses: the exported names the rest of the index uses, when fewer than all (the
    // others only the chunk: e.g. a class only the group's modules construct).
    const used = indexUses === undefined || names.some((n) => indexUses.includes(n));
    const root = names.length === 0 || (exported && !fn && used) || has(st, ts.SyntaxKind.DefaultKeyword);
    decls.push({ st, names, exported, fn, root, ...valueReferences(st) });
  }
  const byName = new Map();
  for (const d of decls) for (const n of d.names) (byName.get(n) ?? byName.set(n, []).get(n)).push(d);
  const eager = new Set();
  // A kept class's methods may call the module's functions through stand-ins (they run after
  // the index loaded); everything else a kept statement uses is kept with it.
  const called = new Set();
  const keep = (d) => {
    if (eager.has(d)) return;
    eager.add(d);
    for (const n of d.names) byName.get(n).forEach(keep); // overloads go with their implementation
    for (const r of d.refs) byName.get(r)?.forEach(keep);
    for (const r of d.methodRefs) for (const o of byName.get(r) ?? []) if (o.fn && ts.isClassDeclaration(d.st)) called.add(o);
    else keep(o);
  };
  decls.filter((d) => d.root).forEach(keep);
  const stubbed = [...called].filter((d) => !eager.has(d));

  const blank = (s, from, to) => s.slice(0, from) + s.slice(from, to).replace(/[^\n]/g, ' ') + s.slice(to);
  let eagerText = text;
  let lazyText = text;
  // From the end, so that the offsets of earlier statements stay valid.
  for (const d of [...decls].reverse()) {
    const from = d.st.getFullStart();
    const to = d.st.getEnd();
    if (eager.has(d)) {
      lazyText = blank(lazyText, from, to);
      // The lazy part imports it: exported from the eager part (at the start of its line).
      if (!d.exported && d.names.length > 0) eagerText = `${eagerText.slice(0, d.st.getStart())}export ${eagerText.slice(d.st.getStart())}`;
    } else {
      eagerText = blank(eagerText, from, to);
      // Called by a kept class's methods: exported by the lazy part, for its stand-in.
      if (!d.exported && stubbed.includes(d)) lazyText = `${lazyText.slice(0, d.st.getStart())}export ${lazyText.slice(d.st.getStart())}`;
    }
  }
  const stubs = [...new Set(stubbed.flatMap((d) => d.names))];
  if (stubs.length > 0) eagerText += `\nimport { ${stubs.join(', ')} } from 'ebpf-ts-stubs:${path}';\n`;
  const eagerNames = [...new Set(decls.filter((d) => eager.has(d)).flatMap((d) => d.names))];
  let eagerExports = [...new Set(decls.filter((d) => eager.has(d) && d.exported).flatMap((d) => d.names))];
  for (const d of decls) {
    if (!ts.isExportDeclaration(d.st)) continue;
    if (d.st.exportClause === undefined) eagerExports = null;
    else if (eagerExports !== null && ts.isNamedExports(d.st.exportClause)) eagerExports.push(...d.st.exportClause.elements.filter((e) => !e.isTypeOnly).map((e) => e.name.text));
    else if (eagerExports !== null) eagerExports.push(d.st.exportClause.name.text);
  }
  const lazyFunctions = [...new Set(decls.filter((d) => !eager.has(d) && d.exported && d.fn).flatMap((d) => d.names))];
  return { eager: eager.size === 0 ? null : eagerText, lazy: lazyText, eagerNames, eagerExports, lazyFunctions, stubs };
}

/**
 * The identifiers a statement reads as values (not property names, not in types): refs, and
 * methodRefs, those read only in the bodies of a class's methods and accessors (not its
 * constructor, field initialisers or static blocks, which may run while the index loads).
 */
function valueReferences(st) {
  const refs = new Set();
  const methodRefs = new Set();
  const walk = (n, inMethod) => {
    if (ts.isExpressionWithTypeArguments(n)) return walk(n.expression, inMethod);
    if (ts.isTypeNode(n)) return;
    if (ts.isIdentifier(n)) {
      const p = n.parent;
      const isName = p !== undefined && 'name' in p && p.name === n;
      if (isName && (ts.isPropertyAccessExpression(p) || ts.isPropertyAssignment(p) || ts.isMethodDeclaration(p) || ts.isPropertyDeclaration(p) || ts.isGetAccessor(p) || ts.isSetAccessor(p) || ts.isEnumMember(p))) return;
      (inMethod ? methodRefs : refs).add(n.text);
      return;
    }
    const method = (ts.isMethodDeclaration(n) || ts.isGetAccessor(n) || ts.isSetAccessor(n)) && ts.isClassLike(n.parent);
    ts.forEachChild(n, (c) => walk(c, inMethod || (method && c === n.body)));
  };
  walk(st, false);
  for (const r of refs) methodRefs.delete(r);
  return { refs, methodRefs };
}
