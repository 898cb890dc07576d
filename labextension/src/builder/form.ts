/**
 * The left-hand form of the query builder, rendered from the state.
 *
 * Every control is a real `<select>`, `<input>` or `<button>` with a label
 * (visible, or `aria-label` inside compact rows). Selects and buttons change
 * the structure and re-render the form; typing in an input only updates the
 * state, so focus and caret stay where they are.
 */

import type { ITableSummary } from './api';
import { button, h, labeled, select } from './dom';
import {
  AGGREGATE_FUNCS,
  ALL_ROWS,
  JOIN_TYPES,
  VALUE_LIST_LIMIT,
  addAggregate,
  addFilter,
  addGroupBy,
  addOrder,
  aggregateAliases,
  availableColumns,
  columnType,
  defaultAlias,
  isFilterComplete,
  isGrouped,
  isNumericType,
  operandShape,
  operatorsFor,
  queryTables,
  removeAggregate,
  removeFilter,
  removeGroupBy,
  removeJoin,
  removeOrder,
  setLimit,
  sortChoices,
  splitList,
  toggleColumn,
  updateAggregate,
  updateFilter,
  updateGroupBy,
  updateJoin,
  updateOrder,
  valueKind,
  type AggregateFunc,
  type FilterOp,
  type IBuilderState,
  type IFilterState,
  type JoinType
} from './state';

/** What the form needs from its widget. */
export interface IFormContext {
  state: IBuilderState;
  tables: ReadonlyArray<ITableSummary>;
  /** Apply a new state; `rerender: false` while the user types. */
  dispatch(next: IBuilderState, rerender?: boolean): void;
  chooseTable(table: string): void;
  addJoin(): void;
  setJoinTable(id: number, table: string): void;
  /** Join keys suggested for a candidate table (`[]` if none or not loaded). */
  suggestions(table: string): { left: string; right: string }[];
  /** Distinct values of a text column (starts loading on first call). */
  values(ref: string): string[] | 'loading' | 'error' | undefined;
  openLineage?: (table: string) => void;
}

export const FORM_CLASS = 'dap-builder-form';

function short(table: string): string {
  return table.split('.').pop() ?? table;
}

function removeButton(
  doc: Document,
  what: string,
  focus: string,
  onClick: () => void
): HTMLButtonElement {
  const b = button(doc, '✕', onClick, {
    'aria-label': `Remove ${what}`,
    title: `Remove ${what}`,
    className: 'jp-mod-reject dap-builder-remove',
    'data-focus': focus
  });
  return b;
}

function addButton(
  doc: Document,
  text: string,
  focus: string,
  onClick: () => void,
  disabled = false
): HTMLButtonElement {
  const b = button(doc, text, onClick, {
    className: 'jp-mod-reject dap-builder-add',
    'data-focus': focus
  });
  b.disabled = disabled;
  return b;
}

function fieldset(doc: Document, legend: string, ...children: Node[]): HTMLFieldSetElement {
  const l = h(doc, 'legend');
  l.textContent = legend;
  return h(doc, 'fieldset', { className: 'dap-builder-section' }, l, ...children);
}

function note(doc: Document, text: string): HTMLParagraphElement {
  const p = h(doc, 'p', { className: 'dap-builder-note' });
  p.textContent = text;
  return p;
}

function columnOptions(
  state: IBuilderState,
  placeholder: string,
  filter: (type: string) => boolean = () => true,
  tables?: ReadonlyArray<string>
): [string, string][] {
  const cols = availableColumns(state).filter(
    c => filter(c.type) && (!tables || tables.includes(c.table))
  );
  return [['', placeholder], ...cols.map(c => [c.ref, c.label] as [string, string])];
}

/** Render the whole form into `host`. */
export function renderForm(host: HTMLElement, ctx: IFormContext): void {
  const doc = host.ownerDocument;
  const { state } = ctx;
  const sections: Node[] = [tableSection(doc, ctx)];
  if (state.table) {
    sections.push(
      joinsSection(doc, ctx),
      columnsSection(doc, ctx),
      filtersSection(doc, ctx),
      groupSection(doc, ctx),
      aggregatesSection(doc, ctx),
      sortSection(doc, ctx),
      limitSection(doc, ctx)
    );
  }
  host.replaceChildren(...sections);
}

function tableSection(doc: Document, ctx: IFormContext): HTMLElement {
  const { state } = ctx;
  const options: [string, string][] = [
    ['', ctx.tables.length ? 'Choose a table…' : 'No readable tables'],
    ...ctx.tables.map(t => [t.name, t.name] as [string, string])
  ];
  if (state.table && !ctx.tables.some(t => t.name === state.table)) {
    options.push([state.table, state.table]);
  }
  const s = select(doc, options, state.table, v => ctx.chooseTable(v), {
    'data-focus': 'table',
    className: 'dap-builder-table'
  });
  const row = h(doc, 'div', { className: 'dap-builder-row' }, labeled(doc, 'Table', s));
  if (ctx.openLineage && state.table) {
    const open = ctx.openLineage;
    row.append(
      button(doc, 'Lineage', () => open(state.table), {
        title: `Show the lineage of ${state.table}`,
        'data-focus': 'lineage'
      })
    );
  }
  return h(doc, 'div', { className: 'dap-builder-section dap-builder-table-section' }, row);
}

function joinsSection(doc: Document, ctx: IFormContext): HTMLElement {
  const { state } = ctx;
  const inQuery = queryTables(state);
  const rows = state.joins.map((j, i) => {
    const before = inQuery.slice(0, i + 1);
    const candidates = ctx.tables
      .map(t => t.name)
      .filter(t => t === j.table || !inQuery.includes(t));
    const tableOptions: [string, string][] = [
      ['', 'Choose a table…'],
      ...candidates.map(t => {
        const keys = ctx.suggestions(t);
        const hint = keys.length
          ? ` — suggested on ${keys[0].right.split('.').pop()}`
          : '';
        return [t, `${t}${hint}`] as [string, string];
      })
    ];
    const rightTables = j.table ? [j.table] : [];
    return h(
      doc,
      'div',
      { className: 'dap-builder-row dap-builder-join', 'data-join': j.id },
      select(
        doc,
        JOIN_TYPES.map(t => [t, `${t} join`] as [string, string]),
        j.type,
        v => ctx.dispatch(updateJoin(ctx.state, j.id, { type: v as JoinType })),
        { 'aria-label': 'Join type', 'data-focus': `join-${j.id}-type` }
      ),
      select(doc, tableOptions, j.table, v => ctx.setJoinTable(j.id, v), {
        'aria-label': 'Joined table',
        'data-focus': `join-${j.id}-table`
      }),
      h(doc, 'span', { className: 'dap-builder-word' }, 'on'),
      select(
        doc,
        columnOptions(state, 'column…', undefined, before),
        j.left,
        v => ctx.dispatch(updateJoin(ctx.state, j.id, { left: v })),
        {
          'aria-label': 'Join key of the earlier tables',
          'data-focus': `join-${j.id}-left`
        }
      ),
      h(doc, 'span', { className: 'dap-builder-word' }, '='),
      select(
        doc,
        columnOptions(state, 'column…', undefined, rightTables),
        j.right,
        v => ctx.dispatch(updateJoin(ctx.state, j.id, { right: v })),
        {
          'aria-label': 'Join key of the joined table',
          'data-focus': `join-${j.id}-right`
        }
      ),
      removeButton(doc, `join ${short(j.table) || i + 1}`, `join-${j.id}-remove`, () =>
        ctx.dispatch(removeJoin(ctx.state, j.id))
      )
    );
  });
  const free = ctx.tables.some(t => !inQuery.includes(t.name));
  return fieldset(
    doc,
    'Joins',
    ...rows,
    addButton(doc, 'Add join', 'add-join', () => ctx.addJoin(), !free)
  );
}

function columnsSection(doc: Document, ctx: IFormContext): HTMLElement {
  const { state } = ctx;
  const grouped = isGrouped(state);
  const list = h(doc, 'div', { className: 'dap-builder-checks' });
  for (const c of availableColumns(state)) {
    const box = h(doc, 'input', {
      type: 'checkbox',
      'data-focus': `col-${c.ref}`,
      disabled: grouped
    });
    box.checked = state.columns.includes(c.ref);
    box.addEventListener('change', () => ctx.dispatch(toggleColumn(ctx.state, c.ref)));
    const type = h(doc, 'span', { className: 'dap-builder-type' });
    type.textContent = c.type.toLowerCase();
    list.append(h(doc, 'label', { className: 'dap-builder-check' }, box, c.label, type));
  }
  return fieldset(
    doc,
    'Columns',
    note(
      doc,
      grouped
        ? 'Grouped: the output is the group-by columns, then the aggregates.'
        : 'None checked: every column of the main table.'
    ),
    list
  );
}

function input(
  doc: Document,
  type: string,
  value: string,
  onInput: (v: string) => void,
  attrs: Record<string, string | number | boolean | undefined>
): HTMLInputElement {
  const i = h(doc, 'input', { type, ...attrs, className: 'jp-mod-styled dap-builder-input' });
  i.value = value;
  i.addEventListener('input', () => onInput(i.value));
  return i;
}

function filterValueControls(doc: Document, ctx: IFormContext, f: IFilterState): HTMLElement[] {
  const { state } = ctx;
  const type = columnType(state, f.column);
  const kind = valueKind(type);
  const shape = operandShape(f.op);
  const set = (patch: Partial<IFilterState>, rerender = false): void =>
    ctx.dispatch(updateFilter(ctx.state, f.id, patch), rerender);
  const focus = `filter-${f.id}-value`;
  const inputType = kind === 'date' ? 'date' : kind === 'number' ? 'number' : 'text';
  const extra = kind === 'number' ? { step: 'any' } : {};
  if (shape === 'none' || !f.column) {
    return [];
  }
  if (shape === 'two') {
    return [
      input(doc, inputType, f.value, v => set({ value: v }), {
        'aria-label': 'From',
        placeholder: 'from',
        'data-focus': focus,
        ...extra
      }),
      h(doc, 'span', { className: 'dap-builder-word' }, 'and'),
      input(doc, inputType, f.value2, v => set({ value2: v }), {
        'aria-label': 'To',
        placeholder: 'to',
        'data-focus': `${focus}2`,
        ...extra
      })
    ];
  }
  const textOp = f.op === 'like' || f.op === 'contains' || f.op === 'starts with';
  const values =
    kind === 'text' && !textOp && (shape === 'list' || f.op === '=' || f.op === '!=')
      ? ctx.values(f.column)
      : undefined;
  const complete = Array.isArray(values) && values.length < VALUE_LIST_LIMIT;
  if (shape === 'list') {
    if (complete) {
      const s = h(doc, 'select', {
        multiple: true,
        size: Math.min(6, Math.max(2, values.length)),
        'aria-label': 'Values',
        'data-focus': focus,
        className: 'jp-mod-styled dap-builder-multi'
      });
      for (const v of values) {
        const o = h(doc, 'option', { value: v });
        o.textContent = v;
        o.selected = f.values.includes(v);
        s.append(o);
      }
      s.addEventListener('change', () =>
        set({ values: Array.from(s.selectedOptions).map(o => o.value) })
      );
      return [s];
    }
    return [
      input(doc, inputType === 'date' ? 'text' : 'text', f.values.join(', '), v => set({ values: splitList(v) }), {
        'aria-label': 'Values, separated by commas',
        placeholder: values === 'loading' ? 'loading values…' : 'a, b, c',
        'data-focus': focus
      })
    ];
  }
  if (kind === 'boolean') {
    return [
      select(
        doc,
        [
          ['', 'choose…'],
          ['true', 'true'],
          ['false', 'false']
        ],
        f.value,
        v => set({ value: v }, true),
        { 'aria-label': 'Value', 'data-focus': focus }
      )
    ];
  }
  if (complete) {
    const options: [string, string][] = [
      ['', 'choose a value…'],
      ...values.map(v => [v, v] as [string, string])
    ];
    if (f.value && !values.includes(f.value)) {
      options.push([f.value, f.value]);
    }
    return [
      select(doc, options, f.value, v => set({ value: v }, true), {
        'aria-label': 'Value',
        'data-focus': focus,
        className: 'dap-builder-value'
      })
    ];
  }
  const attrs: Record<string, string> = {
    'aria-label': 'Value',
    placeholder: values === 'loading' ? 'loading values…' : 'value',
    'data-focus': focus
  };
  const nodes: HTMLElement[] = [];
  if (Array.isArray(values)) {
    const listId = `dap-values-${f.id}-${Math.random().toString(36).slice(2, 8)}`;
    attrs.list = listId;
    const datalist = h(doc, 'datalist', { id: listId });
    for (const v of values) {
      datalist.append(h(doc, 'option', { value: v }));
    }
    nodes.push(datalist);
  }
  nodes.unshift(input(doc, inputType, f.value, v => set({ value: v }), { ...attrs, ...extra }));
  return nodes;
}

function filtersSection(doc: Document, ctx: IFormContext): HTMLElement {
  const { state } = ctx;
  const rows = state.filters.map(f => {
    const type = columnType(state, f.column);
    const ops = f.column ? operatorsFor(type) : operatorsFor('');
    const complete = isFilterComplete(state, f);
    const row = h(
      doc,
      'div',
      {
        className: `dap-builder-row dap-builder-filter${complete ? '' : ' dap-mod-incomplete'}`,
        'data-filter': f.id,
        title: complete ? undefined : 'Incomplete: not part of the query yet'
      },
      select(
        doc,
        columnOptions(state, 'column…'),
        f.column,
        v => ctx.dispatch(updateFilter(ctx.state, f.id, { column: v })),
        { 'aria-label': 'Filter column', 'data-focus': `filter-${f.id}-column` }
      ),
      select(
        doc,
        ops.map(o => [o, o] as [string, string]),
        f.op,
        v => ctx.dispatch(updateFilter(ctx.state, f.id, { op: v as FilterOp })),
        { 'aria-label': 'Operator', 'data-focus': `filter-${f.id}-op` }
      ),
      ...filterValueControls(doc, ctx, f),
      removeButton(doc, 'filter', `filter-${f.id}-remove`, () =>
        ctx.dispatch(removeFilter(ctx.state, f.id))
      )
    );
    return row;
  });
  return fieldset(
    doc,
    'Filters',
    ...rows,
    addButton(doc, 'Add filter', 'add-filter', () => ctx.dispatch(addFilter(ctx.state)))
  );
}

function groupSection(doc: Document, ctx: IFormContext): HTMLElement {
  const { state } = ctx;
  const rows = state.groupBy.map((ref, i) =>
    h(
      doc,
      'div',
      { className: 'dap-builder-row dap-builder-group' },
      select(doc, columnOptions(state, 'column…'), ref, v => ctx.dispatch(updateGroupBy(ctx.state, i, v)), {
        'aria-label': 'Group by column',
        'data-focus': `group-${i}`
      }),
      removeButton(doc, 'group-by column', `group-${i}-remove`, () =>
        ctx.dispatch(removeGroupBy(ctx.state, i))
      )
    )
  );
  return fieldset(
    doc,
    'Group by',
    ...rows,
    addButton(doc, 'Add group-by column', 'add-group', () => ctx.dispatch(addGroupBy(ctx.state, '')), state.groupBy.includes(''))
  );
}

function aggregatesSection(doc: Document, ctx: IFormContext): HTMLElement {
  const { state } = ctx;
  const aliases = aggregateAliases(state);
  const rows = state.aggregates.map(a => {
    const numericOnly = a.func === 'sum' || a.func === 'avg';
    const options = columnOptions(state, 'column…', t => !numericOnly || isNumericType(t));
    if (a.func === 'count') {
      options.splice(1, 0, [ALL_ROWS, '* (rows)']);
    }
    return h(
      doc,
      'div',
      { className: 'dap-builder-row dap-builder-aggregate', 'data-aggregate': a.id },
      select(
        doc,
        AGGREGATE_FUNCS.map(f => [f.func, f.label] as [string, string]),
        a.func,
        v => ctx.dispatch(updateAggregate(ctx.state, a.id, { func: v as AggregateFunc })),
        { 'aria-label': 'Aggregate function', 'data-focus': `agg-${a.id}-func` }
      ),
      select(doc, options, a.column, v => ctx.dispatch(updateAggregate(ctx.state, a.id, { column: v })), {
        'aria-label': 'Aggregated column',
        'data-focus': `agg-${a.id}-column`
      }),
      h(doc, 'span', { className: 'dap-builder-word' }, 'as'),
      input(doc, 'text', a.alias, v => ctx.dispatch(updateAggregate(ctx.state, a.id, { alias: v }), false), {
        'aria-label': 'Output column name',
        placeholder: aliases.get(a.id) ?? defaultAlias(a),
        'data-focus': `agg-${a.id}-alias`,
        size: 12
      }),
      removeButton(doc, 'aggregate', `agg-${a.id}-remove`, () =>
        ctx.dispatch(removeAggregate(ctx.state, a.id))
      )
    );
  });
  return fieldset(
    doc,
    'Aggregates',
    ...rows,
    addButton(doc, 'Add aggregate', 'add-aggregate', () => ctx.dispatch(addAggregate(ctx.state)))
  );
}

function sortSection(doc: Document, ctx: IFormContext): HTMLElement {
  const { state } = ctx;
  const choices = sortChoices(state);
  const rows = state.orderBy.map(o =>
    h(
      doc,
      'div',
      { className: 'dap-builder-row dap-builder-sort' },
      select(
        doc,
        [['', 'column…'], ...choices.map(c => [c.key, c.label] as [string, string])],
        o.key,
        v => ctx.dispatch(updateOrder(ctx.state, o.id, { key: v })),
        { 'aria-label': 'Sort by', 'data-focus': `sort-${o.id}-key` }
      ),
      select(
        doc,
        [
          ['asc', 'ascending'],
          ['desc', 'descending']
        ],
        o.descending ? 'desc' : 'asc',
        v => ctx.dispatch(updateOrder(ctx.state, o.id, { descending: v === 'desc' })),
        { 'aria-label': 'Sort direction', 'data-focus': `sort-${o.id}-dir` }
      ),
      removeButton(doc, 'sort key', `sort-${o.id}-remove`, () =>
        ctx.dispatch(removeOrder(ctx.state, o.id))
      )
    )
  );
  return fieldset(
    doc,
    'Sort',
    ...rows,
    addButton(doc, 'Add sort', 'add-sort', () => ctx.dispatch(addOrder(ctx.state, '')))
  );
}

function limitSection(doc: Document, ctx: IFormContext): HTMLElement {
  const state = ctx.state;
  const i = input(
    doc,
    'number',
    state.limit === null ? '' : String(state.limit),
    v => ctx.dispatch(setLimit(ctx.state, v.trim() === '' ? null : Number(v)), false),
    { min: 1, step: 1, placeholder: 'no limit', 'data-focus': 'limit', className: '' }
  );
  return fieldset(doc, 'Limit', labeled(doc, 'Rows at most', i));
}
