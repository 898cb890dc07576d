/**
 * What the "Schedule this notebook" dialog holds before it is sent: its
 * defaults from the notebook, the parsing of its text fields and the
 * `POST schedules` body. Pure functions, tested without a browser.
 */

import { FORMATS, IScheduleBody } from './model';

/** Mondays at 08:00. */
export const DEFAULT_CRON = '0 8 * * 1';
export const DEFAULT_FORMATS: ReadonlyArray<string> = ['ipynb', 'html'];

/** The dialog's fields, as text the user edits. */
export interface IScheduleDraft {
  name: string;
  cron: string;
  timezone: string;
  formats: string[];
  /** Comma (or semicolon / space) separated addresses. */
  recipients: string;
  /** `name=value` lines. */
  parameters: string;
}

/** A notebook as nbformat JSON (what `context.model.toJSON()` gives). */
export type NotebookJSON = Record<string, unknown>;

/** The browser's time zone (`UTC` when it cannot tell). */
export function browserTimeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

/** `reports/weekly sales.ipynb` → `weekly sales.ipynb`. */
export function fileName(path: string): string {
  const base = path.split('/').pop() ?? '';
  return base || 'report.ipynb';
}

/** The schedule's default name: the notebook's file name without `.ipynb`. */
export function defaultName(path: string): string {
  return fileName(path).replace(/\.ipynb$/i, '') || 'report';
}

function cellSource(cell: Record<string, unknown>): string {
  const source = cell.source;
  if (Array.isArray(source)) {
    return source.map(String).join('');
  }
  return typeof source === 'string' ? source : '';
}

/** The source of the notebook's first code cell tagged `parameters` (papermill's), or `null`. */
export function parametersCell(notebook: NotebookJSON): string | null {
  const cells = Array.isArray(notebook.cells) ? notebook.cells : [];
  for (const cell of cells as Record<string, unknown>[]) {
    const metadata = (cell?.metadata ?? {}) as { tags?: unknown };
    const tags = Array.isArray(metadata.tags) ? metadata.tags : [];
    if (cell?.cell_type === 'code' && tags.includes('parameters')) {
      return cellSource(cell);
    }
  }
  return null;
}

const ASSIGNMENT = /^([A-Za-z_][A-Za-z0-9_]*)\s*(?::[^=]+)?=(?!=)\s*(.*)$/;

/** A Python string literal's text (`"EU"` → `EU`), or `null` if `text` is not one. */
function unquote(text: string): string | null {
  const match = /^([rRuU]?)(['"])(.*)\2$/.exec(text);
  if (!match || match[3].includes(match[2])) {
    return null;
  }
  if (match[1].toLowerCase() === 'r') {
    return match[3];
  }
  return match[3].replace(/\\(.)/g, (_all, c: string) =>
    c === 'n' ? '\n' : c === 't' ? '\t' : c
  );
}

/** `5  # top N` → `5`; a `#` inside a string literal stays. */
function stripComment(text: string): string {
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === '\\') {
        i++;
      } else if (c === quote) {
        quote = null;
      }
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === '#') {
      return text.slice(0, i).trim();
    }
  }
  return text.trim();
}

/**
 * The simple `name = value` lines of a parameters cell, values as the
 * dialog shows them: a string literal without its quotes (the server types
 * values after the cell's defaults, as `dap schedule add -p` does), anything
 * else as written. Lines that are not one assignment (imports, comments,
 * multi-line values) are left out.
 */
export function parseParametersCell(source: string): Array<[string, string]> {
  const found = new Map<string, string>();
  for (const raw of source.split(/\r?\n/)) {
    if (/^\s/.test(raw)) {
      continue; // an indented line continues something else
    }
    const match = ASSIGNMENT.exec(raw.trim());
    if (!match) {
      continue;
    }
    const value = stripComment(match[2]);
    if (!value || /[([{,]$/.test(value)) {
      continue; // a value going on over the next lines
    }
    found.set(match[1], unquote(value) ?? value);
  }
  return [...found.entries()];
}

/** `name=value` lines for the dialog's parameters box. */
export function parametersText(pairs: Array<[string, string]>): string {
  return pairs.map(([name, value]) => `${name}=${value}`).join('\n');
}

/** The dialog's fields for a notebook at `path`. */
export function defaultDraft(path: string, notebook: NotebookJSON): IScheduleDraft {
  const cell = parametersCell(notebook);
  return {
    name: defaultName(path),
    cron: DEFAULT_CRON,
    timezone: browserTimeZone(),
    formats: [...DEFAULT_FORMATS],
    recipients: '',
    parameters: cell === null ? '' : parametersText(parseParametersCell(cell))
  };
}

/** A field the user must fix: the dialog shows `message` as its one error line. */
export class DraftError extends Error {
  constructor(
    message: string,
    readonly field: keyof IScheduleDraft
  ) {
    super(message);
    this.name = 'DraftError';
  }
}

/**
 * `name=value` lines → `{name: value}` (values as text). Blank lines and
 * `# comments` are skipped; a line without `=`, a name that is not an
 * identifier or a name given twice is a {@link DraftError}.
 */
export function parseParameterLines(text: string): Record<string, string> {
  // A Map, then own properties: `__proto__=…` is a name like any other, not a prototype.
  const out = new Map<string, string>();
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) {
      return;
    }
    const eq = line.indexOf('=');
    const name = eq < 0 ? '' : line.slice(0, eq).trim();
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw new DraftError(
        `Parameters, line ${index + 1}: “${line}” is not name=value`,
        'parameters'
      );
    }
    if (out.has(name)) {
      throw new DraftError(`Parameters: ${name} is given twice`, 'parameters');
    }
    out.set(name, line.slice(eq + 1).trim());
  });
  const values: Record<string, string> = {};
  out.forEach((value, name) => {
    Object.defineProperty(values, name, {
      value,
      enumerable: true,
      writable: true,
      configurable: true
    });
  });
  return values;
}

/** `a@x.org, b@y.org; c@z.org` → the addresses, each once (the server checks the domains). */
export function parseRecipients(text: string): string[] {
  const seen = new Set<string>();
  for (const part of text.split(/[,;\s]+/)) {
    const address = part.trim();
    if (!address) {
      continue;
    }
    if (!/^[^@\s]+@[^@\s]+$/.test(address)) {
      throw new DraftError(`Recipients: “${address}” is not an e-mail address`, 'recipients');
    }
    seen.add(address);
  }
  return [...seen];
}

/**
 * The `POST schedules` body for the draft and the notebook (its JSON now,
 * unsaved edits included: a schedule keeps a snapshot, not a path).
 *
 * @throws {DraftError} for a field the user must fix first
 */
export function scheduleBody(
  draft: IScheduleDraft,
  notebook: NotebookJSON,
  path: string
): IScheduleBody {
  const name = draft.name.trim();
  if (!name) {
    throw new DraftError('Give the schedule a name', 'name');
  }
  const cron = draft.cron.trim().replace(/\s+/g, ' ');
  if (cron && cron.split(' ').length !== 5) {
    throw new DraftError(
      'Cron takes five fields: minute hour day-of-month month day-of-week',
      'cron'
    );
  }
  const timezone = draft.timezone.trim() || 'UTC';
  const formats = FORMATS.filter(f => draft.formats.includes(f));
  if (!formats.length) {
    throw new DraftError('Choose at least one output format', 'formats');
  }
  return {
    name,
    notebook,
    notebook_name: fileName(path),
    cron,
    timezone,
    formats,
    recipients: parseRecipients(draft.recipients),
    parameters: parseParameterLines(draft.parameters)
  };
}
