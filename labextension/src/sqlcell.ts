/**
 * `%%dap sql` cells: recognising them, the cell text inserted from the
 * catalog, and SQL syntax highlighting in their editors.
 *
 * How the highlighting works (JupyterLab 4, CodeMirror 6): the plugin adds
 * one editor extension to `IEditorExtensionRegistry`, so every CodeMirror
 * editor JupyterLab creates gets {@link dapSqlLanguage}. That extension holds
 * a `Compartment` which is empty for ordinary cells and contains
 * `Prec.highest(sql())` for cells whose first line is `%%dap sql`. The
 * `language` facet takes the highest-precedence language, so SQL replaces
 * the notebook's IPython language in that editor only, while JupyterLab's
 * own language compartment (driven by the kernel's mimetype) stays as it
 * is. A `transactionExtender` re-checks the first line on every document
 * change (typing, paste, collaborative edits, `setSource`) and swaps the
 * compartment when a cell becomes or stops being a `%%dap sql` cell. No
 * mimetype, cell metadata or kernel is involved, so it works for cells
 * created, pasted or loaded in any way.
 */
import { PostgreSQL, sql } from '@codemirror/lang-sql';
import {
  Compartment,
  EditorState,
  Extension,
  Prec,
  Text
} from '@codemirror/state';

/** The cell magic that runs a cell as one governed query. */
export const DAP_SQL_MAGIC = '%%dap sql';

const MAGIC_LINE = /^\s*%%dap\s+sql(\s|$)/;

/** True when the text's first line is `%%dap sql [options]`. */
export function isDapSqlSource(source: string): boolean {
  const newline = source.indexOf('\n');
  return MAGIC_LINE.test(newline < 0 ? source : source.slice(0, newline));
}

function isDapSqlDoc(doc: Text): boolean {
  return doc.lines > 0 && MAGIC_LINE.test(doc.line(1).text);
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Quote each part of a qualified name that is not a plain identifier. */
export function quoteQualified(name: string): string {
  return name
    .split('.')
    .map(part => (IDENT.test(part) ? part : `"${part.replace(/"/g, '""')}"`))
    .join('.');
}

/** The cell "Insert %%dap sql cell" adds for a table. */
export function sqlCellSource(table: string, limit = 100): string {
  return `${DAP_SQL_MAGIC}\nSELECT * FROM ${quoteQualified(table)} LIMIT ${limit}`;
}

/** The SQL language support used in `%%dap sql` cells (DuckDB is close to PostgreSQL). */
export const dapSqlSupport = sql({ dialect: PostgreSQL, upperCaseKeywords: true });

/**
 * The editor extension: SQL highlighting while the first line is
 * `%%dap sql`, the editor's own language otherwise.
 *
 * @param initialSource the document the editor starts with (the extension
 *   is created before the editor state).
 */
export function dapSqlLanguage(initialSource: string): Extension {
  const compartment = new Compartment();
  const sqlExtension = Prec.highest(dapSqlSupport);
  const active = (state: EditorState): boolean =>
    compartment.get(state) === sqlExtension;
  return [
    compartment.of(isDapSqlSource(initialSource) ? sqlExtension : []),
    EditorState.transactionExtender.of(tr => {
      if (!tr.docChanged) {
        return null;
      }
      const wanted = isDapSqlDoc(tr.newDoc);
      if (wanted === active(tr.startState)) {
        return null;
      }
      return { effects: compartment.reconfigure(wanted ? sqlExtension : []) };
    })
  ];
}
