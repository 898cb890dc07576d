/**
 * The visual query builder: a main-area widget with the form on the left and
 * the live SQL, the actions and the results on the right.
 */

import { Widget } from '@lumino/widgets';

import {
  describeError,
  restApi,
  valuesFromPage,
  type IBuilderApi,
  type IBuiltQuery,
  type IQueryPage,
  type ITableSummary
} from './api';
import { CHART_KINDS, chooseAxes, drawChart, numericColumns, type ChartKind } from './chart';
import { button, focusKey, h, labeled, restoreFocus, select } from './dom';
import { FORM_CLASS, renderForm, type IFormContext } from './form';
import { pageLabel, renderGrid } from './grid';
import { newQueryId, watchProgress } from './progress';
import { chartOf, publishedLabel, saveAsDashboard, type DashboardPrompt } from './save';
import { renderSql } from './sql';
import {
  addJoin,
  cellSource,
  initialState,
  parseRef,
  queryTables,
  setSchema,
  setTable,
  specFromState,
  suggestJoinKeys,
  updateJoin,
  valuesSpec,
  type IBuilderState
} from './state';

/** Where "Insert as cell" puts the query; implemented over INotebookTracker. */
export interface INotebookTarget {
  /** A notebook is open to insert into. */
  readonly available: boolean;
  /** Call `listener` when `available` may have changed; returns an unsubscribe. */
  onChange(listener: () => void): () => void;
  /** Add a code cell with `source` below the active cell. */
  insert(source: string): void;
}

export interface IQueryBuilderOptions {
  api?: IBuilderApi;
  notebook?: INotebookTarget | null;
  /** Table to start with (`schema.table`). */
  table?: string;
  /** Delay between the last change and the `query/build` call. */
  debounceMs?: number;
  /** Rows per page of the result grid. */
  pageSize?: number;
  openLineage?: (table: string) => void;
  /** Asks for a dashboard's name and title ("Save as dashboard"); none: saving is off. */
  askDashboard?: DashboardPrompt;
}

export const SAVE_DASHBOARD_TOOLTIP = 'Publish this query and its chart as a dashboard you own';
export const NO_SAVE_TOOLTIP = 'Saving dashboards needs JupyterLab';
export const NO_NOTEBOOK_TOOLTIP = 'Open a notebook to insert the query as a cell';
export const INSERT_TOOLTIP = 'Insert the query as a %%dap sql cell below the active cell';

let counter = 0;

export class QueryBuilderWidget extends Widget {
  constructor(options: IQueryBuilderOptions = {}) {
    super();
    this._api = options.api ?? restApi;
    this._notebook = options.notebook ?? null;
    this._debounceMs = options.debounceMs ?? 300;
    this._pageSize = options.pageSize ?? 100;
    this._openLineage = options.openLineage;
    this._askDashboard = options.askDashboard;
    this.id = `dap-query-builder-${++counter}`;
    this.addClass('dap-builder');
    this.title.label = 'New query';
    this.title.caption = 'DAP visual query builder';
    this.title.closable = true;
    const doc = this.node.ownerDocument;

    this._form = h(doc, 'form', {
      className: FORM_CLASS,
      'aria-label': 'Query definition'
    });
    this._form.addEventListener('submit', e => {
      e.preventDefault();
      void this.run();
    });
    this._formStatus = h(doc, 'div', { className: 'dap-builder-form-status', 'aria-live': 'polite' });

    const sqlHeading = h(doc, 'h3', { className: 'dap-builder-heading', id: `${this.id}-sql` }, 'SQL');
    this._sql = h(doc, 'pre', {
      className: 'dap-builder-sql',
      tabindex: 0,
      'aria-labelledby': `${this.id}-sql`,
      'aria-readonly': 'true'
    });
    this._sqlError = h(doc, 'div', { className: 'dap-builder-error dap-builder-sql-error', role: 'alert' });

    this._runButton = button(doc, 'Run', () => void this.run(), {
      className: 'jp-mod-accept dap-builder-run',
      title: 'Run the query (governed)'
    });
    this._insertButton = button(doc, 'Insert as cell', () => void this.insertCell(), {
      className: 'jp-mod-reject dap-builder-insert'
    });
    const saveTip = this._askDashboard ? SAVE_DASHBOARD_TOOLTIP : NO_SAVE_TOOLTIP;
    this._saveButton = button(doc, 'Save as dashboard', () => void this.saveDashboard(), {
      className: 'jp-mod-reject dap-builder-save',
      title: saveTip,
      'aria-description': saveTip
    });
    this._saveButton.disabled = true;
    // A disabled button gets no pointer events in every browser: the wrapper shows the tooltip.
    const saveWrap = h(doc, 'span', { className: 'dap-builder-save-wrap', title: saveTip }, this._saveButton);
    this._status = h(doc, 'div', { className: 'dap-builder-status', 'aria-live': 'polite' });
    this._progress = h(doc, 'progress', { className: 'dap-builder-progress', hidden: true, 'aria-label': 'Query progress' });
    this._runError = h(doc, 'div', { className: 'dap-builder-error dap-builder-run-error', role: 'alert' });
    const actions = h(
      doc,
      'div',
      { className: 'dap-builder-actions' },
      this._runButton,
      this._insertButton,
      saveWrap,
      this._progress,
      this._status
    );

    this._results = h(doc, 'div', { className: 'dap-builder-results', hidden: true });
    this._chartControls = h(doc, 'div', { className: 'dap-builder-chart-controls' });
    this._chart = h(doc, 'div', { className: 'dap-builder-chart' });
    this._prevButton = button(doc, 'Previous page', () => void this.previousPage(), {
      className: 'jp-mod-reject dap-builder-prev'
    });
    this._nextButton = button(doc, 'Next page', () => void this.nextPage(), {
      className: 'jp-mod-reject dap-builder-next'
    });
    this._pageInfo = h(doc, 'span', { className: 'dap-builder-page-info', 'aria-live': 'polite' });
    this._grid = h(doc, 'table', { className: 'dap-builder-grid' });
    this._results.append(
      h(doc, 'h3', { className: 'dap-builder-heading' }, 'Chart'),
      this._chartControls,
      this._chart,
      h(doc, 'h3', { className: 'dap-builder-heading' }, 'Result'),
      h(doc, 'div', { className: 'dap-builder-pager' }, this._prevButton, this._pageInfo, this._nextButton),
      h(doc, 'div', { className: 'dap-builder-grid-wrap', tabindex: 0, 'aria-label': 'Result rows' }, this._grid)
    );

    const main = h(
      doc,
      'div',
      { className: 'dap-builder-main' },
      sqlHeading,
      this._sql,
      this._sqlError,
      actions,
      this._runError,
      this._results
    );
    const side = h(doc, 'div', { className: 'dap-builder-side' }, this._formStatus, this._form);
    this.node.append(side, main);

    this._unsubscribe = this._notebook?.onChange(() => this._updateButtons()) ?? null;
    this._state = initialState();
    this._renderSql();
    this._updateButtons();
    this.ready = this._start(options.table ?? '');
  }

  /** Resolves once the catalog (and the start table's columns) are loaded. */
  readonly ready: Promise<void>;

  get state(): IBuilderState {
    return this._state;
  }

  /** The last SQL the server built for the current state. */
  get built(): IBuiltQuery | null {
    return this._built;
  }

  /** The page of results on display. */
  get page(): IQueryPage | null {
    return this._page;
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    window.clearTimeout(this._timer);
    this._unsubscribe?.();
    super.dispose();
  }

  /** Apply a new state, re-render the form (unless typing) and rebuild the SQL. */
  dispatch(next: IBuilderState, rerender = true): void {
    this._state = next;
    if (rerender) {
      this._renderForm();
    }
    this._scheduleBuild();
  }

  async chooseTable(table: string): Promise<void> {
    this.title.label = table ? `Query: ${table.split('.').pop()}` : 'New query';
    this.dispatch(setTable(this._state, table));
    if (table) {
      await this._ensureSchemas([table]);
    }
  }

  /** Add a join to the first table with suggested keys (or the first free table). */
  async addJoin(): Promise<void> {
    const inQuery = queryTables(this._state);
    const free = this._tables.map(t => t.name).filter(t => !inQuery.includes(t));
    if (!free.length) {
      return;
    }
    await this._ensureSchemas(free);
    const best = free.find(t => this._suggest(t).length > 0) ?? free[0];
    this.dispatch(addJoin(this._state, best, this._suggest(best)[0]));
  }

  async setJoinTable(id: number, table: string): Promise<void> {
    if (table) {
      await this._ensureSchemas([table]);
    }
    const keys = table ? this._suggest(table, id)[0] : undefined;
    this.dispatch(updateJoin(this._state, id, { table, left: keys?.left, right: keys?.right ?? '' }));
  }

  /** Build now (skipping the debounce); `null` if the spec is invalid. */
  async buildNow(): Promise<IBuiltQuery | null> {
    window.clearTimeout(this._timer);
    this._timer = undefined;
    const spec = specFromState(this._state);
    const token = ++this._buildToken;
    if (spec === null) {
      this._built = null;
      this._buildError = null;
      this._renderSql();
      return null;
    }
    this._building = true;
    this._updateButtons();
    try {
      const built = await this._api.build(spec);
      if (token === this._buildToken) {
        this._built = built;
        this._buildError = null;
      }
    } catch (error) {
      if (token === this._buildToken) {
        this._built = null;
        this._buildError = describeError(error);
      }
    } finally {
      if (token === this._buildToken) {
        this._building = false;
        this._renderSql();
        this._updateButtons();
      }
    }
    return token === this._buildToken ? this._built : null;
  }

  /** Run the current query and show its first page. */
  async run(): Promise<void> {
    const built = this._timer !== undefined || this._building || !this._built ? await this.buildNow() : this._built;
    if (!built) {
      return;
    }
    const token = ++this._runToken;
    this._running = true;
    this._runError.textContent = '';
    this._status.textContent = 'Running…';
    this._updateButtons();
    const queryId = newQueryId();
    const stopProgress = watchProgress(id => this._api.progress(id), queryId, this._progress);
    try {
      const page = await this._api.run(built, this._pageSize, queryId);
      if (token !== this._runToken || this.isDisposed) {
        return;
      }
      this._axes = chooseAxes(page.columns);
      this._showPage(page);
      const ms = page.elapsed_ms;
      this._status.textContent = `${page.row_count.toLocaleString('en-US')} row${page.row_count === 1 ? '' : 's'}${
        typeof ms === 'number' ? ` in ${ms < 1000 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(2)} s`}` : ''
      }`;
    } catch (error) {
      if (token !== this._runToken || this.isDisposed) {
        return;
      }
      this._status.textContent = '';
      this._runError.textContent = describeError(error);
    } finally {
      stopProgress();
      if (token === this._runToken && !this.isDisposed) {
        this._running = false;
        this._updateButtons();
      }
    }
  }

  async nextPage(): Promise<void> {
    if (this._page?.next_offset != null) {
      await this._loadPage(this._page.next_offset);
    }
  }

  async previousPage(): Promise<void> {
    if (this._page && this._page.offset > 0) {
      await this._loadPage(Math.max(0, this._page.offset - this._pageSize));
    }
  }

  /** Insert the query as a `%%dap sql` cell into the active notebook. */
  async insertCell(): Promise<boolean> {
    if (!this._notebook?.available) {
      return false;
    }
    const built = this._timer !== undefined || this._building || !this._built ? await this.buildNow() : this._built;
    if (!built || !this._notebook.available) {
      return false;
    }
    this._notebook.insert(cellSource(built.display_sql));
    return true;
  }

  /** Publish the query and its chart as a dashboard; the status line says where it is. */
  async saveDashboard(): Promise<boolean> {
    const spec = specFromState(this._state);
    if (!spec || !this._askDashboard) {
      return false;
    }
    this._runError.textContent = '';
    try {
      const chart = chartOf(this._page, this._axes, this._chartKind);
      const saved = await saveAsDashboard(this._api, this._askDashboard, spec, chart);
      if (saved && !this.isDisposed) {
        this._status.textContent = publishedLabel(saved);
      }
      return saved !== null;
    } catch (error) {
      if (!this.isDisposed) {
        this._runError.textContent = describeError(error);
      }
      return false;
    }
  }

  // -- private --------------------------------------------------------------------------

  private async _start(table: string): Promise<void> {
    this._formStatus.textContent = 'Loading the catalog…';
    this._renderForm();
    try {
      this._tables = await this._api.tables();
      this._formStatus.textContent = '';
    } catch (error) {
      this._formStatus.textContent = '';
      this._setFormError(describeError(error));
    }
    if (this.isDisposed) {
      return;
    }
    if (table) {
      await this.chooseTable(table);
    } else {
      this._renderForm();
    }
  }

  private _setFormError(message: string | null): void {
    this._formError?.remove();
    this._formError = null;
    if (message) {
      this._formError = h(this.node.ownerDocument, 'div', { className: 'dap-builder-error', role: 'alert' }, message);
      this._formStatus.after(this._formError);
    }
  }

  private async _ensureSchemas(tables: string[]): Promise<void> {
    const missing = tables.filter(t => !(t in this._state.schemas));
    if (!missing.length) {
      return;
    }
    try {
      const loaded = await Promise.all(missing.map(async t => [t, await this._api.columns(t)] as const));
      let state = this._state;
      for (const [t, cols] of loaded) {
        state = setSchema(state, t, cols);
      }
      this._setFormError(null);
      if (!this.isDisposed) {
        this.dispatch(state);
      }
    } catch (error) {
      this._setFormError(describeError(error));
    }
  }

  private _suggest(table: string, joinId?: number): { left: string; right: string }[] {
    const state = this._state;
    const columns = state.schemas[table];
    if (!columns) {
      return [];
    }
    let before = queryTables(state);
    if (joinId !== undefined) {
      const index = state.joins.findIndex(j => j.id === joinId);
      before = before.slice(0, index + 1);
    }
    return suggestJoinKeys(
      before.filter(t => t !== table).map(t => ({ name: t, columns: state.schemas[t] ?? [] })),
      { name: table, columns }
    );
  }

  private _values(ref: string): string[] | 'loading' | 'error' | undefined {
    const known = this._valueLists.get(ref);
    if (known !== undefined) {
      return known;
    }
    this._valueLists.set(ref, 'loading');
    const { table, column } = parseRef(ref);
    void (async () => {
      try {
        const built = await this._api.build(valuesSpec(table, column));
        const page = await this._api.run(built, valuesSpec(table, column).limit ?? 200);
        this._valueLists.set(ref, valuesFromPage(page));
      } catch (error) {
        console.warn(`DAP: no value list for ${ref}:`, describeError(error));
        this._valueLists.set(ref, 'error');
      }
      if (!this.isDisposed) {
        this._renderForm();
      }
    })();
    return 'loading';
  }

  private _renderForm(): void {
    const key = focusKey(this.node.ownerDocument, this._form);
    const widget = this;
    const ctx: IFormContext = {
      get state() {
        return widget._state;
      },
      tables: this._tables,
      dispatch: (next, rerender) => this.dispatch(next, rerender),
      chooseTable: table => void this.chooseTable(table),
      addJoin: () => void this.addJoin(),
      setJoinTable: (id, table) => void this.setJoinTable(id, table),
      suggestions: table => this._suggest(table),
      values: ref => this._values(ref),
      openLineage: this._openLineage
    };
    renderForm(this._form, ctx);
    restoreFocus(this._form, key);
  }

  private _scheduleBuild(): void {
    window.clearTimeout(this._timer);
    this._timer = window.setTimeout(() => {
      this._timer = undefined;
      void this.buildNow();
    }, this._debounceMs);
    this._updateButtons();
  }

  private _renderSql(): void {
    if (this._built) {
      renderSql(this._sql, this._built.display_sql);
      this._sql.classList.remove('dap-mod-placeholder');
    } else {
      this._sql.textContent = this._state.table ? '' : 'Choose a table to start a query.';
      this._sql.classList.toggle('dap-mod-placeholder', true);
    }
    this._sql.classList.toggle('dap-mod-stale', this._buildError !== null);
    this._sqlError.textContent = this._buildError ?? '';
  }

  private _updateButtons(): void {
    const ready = this._built !== null && !this._building && this._timer === undefined;
    const canRun = !!this._state.table && this._buildError === null && !this._running;
    this._runButton.disabled = !canRun;
    const notebook = this._notebook?.available ?? false;
    this._insertButton.disabled = !notebook || !canRun;
    this._insertButton.title = !notebook ? NO_NOTEBOOK_TOOLTIP : INSERT_TOOLTIP;
    this._saveButton.disabled = !this._askDashboard || !canRun;
    this._runButton.setAttribute('aria-busy', String(!ready && !!this._state.table));
  }

  private async _loadPage(offset: number): Promise<void> {
    if (!this._page) {
      return;
    }
    const token = ++this._runToken;
    this._prevButton.disabled = true;
    this._nextButton.disabled = true;
    try {
      const page = await this._api.page(this._page.query_id, offset, this._pageSize);
      if (token === this._runToken && !this.isDisposed) {
        this._runError.textContent = '';
        this._showPage(page);
      }
    } catch (error) {
      if (token === this._runToken && !this.isDisposed) {
        this._runError.textContent = describeError(error);
        this._showPage(this._page);
      }
    }
  }

  private _showPage(page: IQueryPage): void {
    this._page = page;
    this._results.hidden = false;
    renderGrid(this._grid, page.columns, page.rows, page.offset);
    this._pageInfo.textContent = pageLabel(page.offset, page.rows.length, page.row_count, page.truncated);
    this._prevButton.disabled = page.offset <= 0;
    this._nextButton.disabled = page.next_offset == null;
    this._renderChart();
  }

  private _renderChart(): void {
    const doc = this.node.ownerDocument;
    const page = this._page;
    if (!page) {
      return;
    }
    const axes = this._axes;
    const numeric = numericColumns(page.columns);
    if (!axes || !numeric.length) {
      this._chartControls.replaceChildren();
      this._chart.replaceChildren(h(doc, 'p', { className: 'dap-builder-note' }, 'No numeric column to chart.'));
      return;
    }
    const colOptions = page.columns.map((c, i) => [String(i), c.name] as [string, string]);
    this._chartControls.replaceChildren(
      labeled(
        doc,
        'Chart',
        select(doc, CHART_KINDS.map(k => [k, k] as [string, string]), this._chartKind, v => {
          this._chartKind = v as ChartKind;
          this._renderChart();
        }, { 'data-focus': 'chart-kind', className: 'dap-builder-chart-kind' })
      ),
      labeled(
        doc,
        'X',
        select(doc, colOptions, String(axes.x), v => {
          this._axes = { x: Number(v), y: axes.y };
          this._renderChart();
        }, { 'data-focus': 'chart-x' })
      ),
      labeled(
        doc,
        'Y',
        select(doc, colOptions.filter((_, i) => numeric.includes(i)), String(axes.y), v => {
          this._axes = { x: axes.x, y: Number(v) };
          this._renderChart();
        }, { 'data-focus': 'chart-y' })
      ),
      h(doc, 'span', { className: 'dap-builder-note' }, `rows ${page.offset + 1}–${page.offset + page.rows.length} of this page`)
    );
    drawChart(this._chart, page.columns, page.rows, this._chartKind, axes.x, axes.y);
  }

  private _api: IBuilderApi;
  private _notebook: INotebookTarget | null;
  private _unsubscribe: (() => void) | null;
  private _debounceMs: number;
  private _pageSize: number;
  private _openLineage?: (table: string) => void;
  private _askDashboard?: DashboardPrompt;
  private _state: IBuilderState;
  private _tables: ITableSummary[] = [];
  private _valueLists = new Map<string, string[] | 'loading' | 'error'>();
  private _built: IBuiltQuery | null = null;
  private _buildError: string | null = null;
  private _building = false;
  private _running = false;
  private _buildToken = 0;
  private _runToken = 0;
  private _timer: number | undefined = undefined;
  private _page: IQueryPage | null = null;
  private _axes: { x: number; y: number } | null = null;
  private _chartKind: ChartKind = 'bar';
  private _form: HTMLFormElement;
  private _formStatus: HTMLDivElement;
  private _formError: HTMLDivElement | null = null;
  private _sql: HTMLPreElement;
  private _sqlError: HTMLDivElement;
  private _runButton: HTMLButtonElement;
  private _insertButton: HTMLButtonElement;
  private _saveButton: HTMLButtonElement;
  private _status: HTMLDivElement;
  private _progress: HTMLProgressElement;
  private _runError: HTMLDivElement;
  private _results: HTMLDivElement;
  private _chartControls: HTMLDivElement;
  private _chart: HTMLDivElement;
  private _prevButton: HTMLButtonElement;
  private _nextButton: HTMLButtonElement;
  private _pageInfo: HTMLSpanElement;
  private _grid: HTMLTableElement;
}
