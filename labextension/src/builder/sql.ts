/**
 * Simple SQL keyword highlighting for the read-only SQL preview.
 *
 * Pure tokenizer plus a DOM renderer; no `@jupyterlab/*` imports.
 */

export type TokenKind =
  | 'keyword'
  | 'string'
  | 'number'
  | 'identifier'
  | 'quoted'
  | 'operator'
  | 'comment'
  | 'space';

export interface IToken {
  kind: TokenKind;
  text: string;
}

const KEYWORDS = new Set(
  (
    'select from where group by order having limit offset join inner left right full ' +
    'outer cross on and or not in is null as asc desc distinct between like ilike escape ' +
    'case when then else end union all with cast true false count sum avg min max exists'
  ).split(' ')
);

const TOKEN =
  /(--[^\n]*)|('(?:[^']|'')*'?)|("(?:[^"]|"")*"?)|(\s+)|(\d+(?:\.\d+)?(?:e[+-]?\d+)?)|([A-Za-z_][A-Za-z0-9_$]*)|(\$[A-Za-z0-9_]+|[^\sA-Za-z0-9_'"])/gy;

/** Split SQL into tokens; joining their texts gives the input back. */
export function tokenize(sql: string): IToken[] {
  const out: IToken[] = [];
  TOKEN.lastIndex = 0;
  let m: RegExpExecArray | null;
  while (TOKEN.lastIndex < sql.length && (m = TOKEN.exec(sql)) !== null) {
    const [text, comment, str, quoted, space, num, word] = m;
    let kind: TokenKind = 'operator';
    if (comment !== undefined) {
      kind = 'comment';
    } else if (str !== undefined) {
      kind = 'string';
    } else if (quoted !== undefined) {
      kind = 'quoted';
    } else if (space !== undefined) {
      kind = 'space';
    } else if (num !== undefined) {
      kind = 'number';
    } else if (word !== undefined) {
      kind = KEYWORDS.has(word.toLowerCase()) ? 'keyword' : 'identifier';
    }
    out.push({ kind, text });
  }
  return out;
}

/** Fill `pre` with the SQL, keywords, strings and numbers in spans. */
export function renderSql(pre: HTMLElement, sql: string): void {
  const doc = pre.ownerDocument;
  const nodes: Node[] = [];
  for (const token of tokenize(sql)) {
    if (token.kind === 'space' || token.kind === 'identifier') {
      nodes.push(doc.createTextNode(token.text));
    } else {
      const span = doc.createElement('span');
      span.className = `dap-sql-${token.kind}`;
      span.textContent = token.text;
      nodes.push(span);
    }
  }
  pre.replaceChildren(...nodes);
}
