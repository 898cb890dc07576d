import { LabIcon } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import {
  CSS,
  EMPTY_MESSAGE,
  ICatalogTable,
  IColumnInfo,
  formatTableCount,
  renderError
} from './catalog';
import { NOT_INSTALLED_MESSAGE, userErrorMessage } from './errors';
import { IQualityStatus, QualityCache, QualityLoader } from './quality';
import {
  CatalogTree,
  TREE_CSS,
  TreeAction,
  renderTree,
  setRowQuality,
  tableId,
  treeKeyAction
} from './tree';

/** DOM id of the side panel. */
export const PANEL_ID = 'dap-catalog-panel';

/** Caption / header text of the panel. */
export const PANEL_TITLE = 'DAP catalog';

/** Extra line under the "not installed" error. */
export const NOT_INSTALLED_HINT =
  'Install DAP in the Python environment of this JupyterLab, run ' +
  '`jupyter server extension enable dap_server`, then restart JupyterLab.';

/** Delay between the last keystroke in the search box and the request. */
export const SEARCH_DEBOUNCE_MS = 250;

/** A small "database" icon; `jp-icon3` makes it follow the theme. */
const DATABASE_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M12 2C7.58 2 4 3.79 4 6v12c0 2.21 3.58 4 8 4s8-1.79 8-4V6c0-2.21-3.58-4-8-4zm0 2c3.87 0 6 1.5 6 2s-2.13 2-6 2-6-1.5-6-2 2.13-2 6-2zm6 14c0 .5-2.13 2-6 2s-6-1.5-6-2v-2.23C7.61 16.55 9.72 17 12 17s4.39-.45 6-1.23V18zm0-5c0 .5-2.13 2-6 2s-6-1.5-6-2v-2.23C7.61 11.55 9.72 12 12 12s4.39-.45 6-1.23V13z"/>
  </g>
</svg>`;

export const catalogIcon = new LabIcon({
  name: 'dap:catalog',
  svgstr: DATABASE_SVG
});

/**
 * Loads the catalog for a search term (`''` for all); listed tables the
 * caller may not read come with `readable: false`.
 */
export type CatalogLoader = (q: string) => Promise<ICatalogTable[]>;

/** Loads the columns of one table (on expand). */
export type ColumnsLoader = (table: string) => Promise<IColumnInfo[]>;

export interface ICatalogPanelOptions {
  loadCatalog: CatalogLoader;
  loadColumns: ColumnsLoader;
  /** Open the table panel (not called for tables the caller may not read). */
  openTable?: (table: string) => void;
  /**
   * Loads a table's quality badge (`null`: none). Badges are fetched only
   * for table rows on screen, a few at a time, and cached until Refresh.
   */
  loadQuality?: QualityLoader;
  debounceMs?: number;
}

/**
 * Left sidebar panel: search box and the catalog tree
 * (schema → tables → columns).
 *
 * The catalog is loaded the first time the panel is shown, on "Refresh",
 * and (debounced) as the search term changes.
 */
export class CatalogPanel extends Widget {
  constructor(options: ICatalogPanelOptions) {
    super();
    this._options = options;
    this.id = PANEL_ID;
    this.addClass(CSS.panel);
    this.title.icon = catalogIcon;
    this.title.caption = PANEL_TITLE;

    const doc = this.node.ownerDocument;

    const header = doc.createElement('div');
    header.className = CSS.header;
    const heading = doc.createElement('h2');
    heading.className = CSS.title;
    heading.textContent = PANEL_TITLE;
    this._button = doc.createElement('button');
    this._button.type = 'button';
    this._button.className = `${CSS.refresh} jp-Button jp-mod-styled jp-mod-reject`;
    this._button.textContent = 'Refresh';
    this._button.title = 'Reload the catalog from the DAP server';
    this._button.addEventListener('click', () => {
      void this.refresh();
    });
    header.append(heading, this._button);

    this._search = doc.createElement('input');
    this._search.type = 'search';
    this._search.className = 'dap-catalog-search jp-mod-styled';
    this._search.placeholder = 'Search tables, descriptions, tags';
    this._search.setAttribute('aria-label', 'Search the catalog');
    this._search.addEventListener('input', () => this._scheduleSearch());
    this._search.addEventListener('keydown', event => {
      if (event.key === 'Escape' && this._search.value) {
        this._search.value = '';
        this._scheduleSearch(0);
        event.stopPropagation();
      } else if (event.key === 'Enter') {
        this._scheduleSearch(0);
      } else if (event.key === 'ArrowDown') {
        event.preventDefault();
        this._focusRow(this._tree.focusedId ?? this._tree.nodes()[0]?.id);
      }
    });
    const searchWrap = doc.createElement('div');
    searchWrap.className = 'dap-catalog-searchbar';
    searchWrap.appendChild(this._search);

    this._status = doc.createElement('div');
    this._status.className = CSS.status;
    this._status.setAttribute('aria-live', 'polite');

    this._list = doc.createElement('ul');
    this._list.className = `${CSS.list} ${TREE_CSS.tree}`;
    this._list.setAttribute('role', 'tree');
    this._list.setAttribute('aria-label', 'Catalog tables');
    this._list.addEventListener('click', this._onClick);
    this._list.addEventListener('dblclick', this._onDoubleClick);
    this._list.addEventListener('keydown', this._onKeyDown);

    this.node.append(header, searchWrap, this._status, this._list);

    if (options.loadQuality) {
      this._quality = new QualityCache(options.loadQuality, {
        onLoaded: (table, status) => this._showQuality(table, status)
      });
    }
  }

  /** The badge cache (`null` without a quality loader). */
  get quality(): QualityCache | null {
    return this._quality;
  }

  /** A badge loaded elsewhere (the table panel): show it in the tree too. */
  updateQuality(table: string, status: IQualityStatus | null): void {
    this._quality?.set(table, status);
  }

  /** The tables currently displayed. */
  get tables(): ReadonlyArray<ICatalogTable> {
    return this._tree.tables;
  }

  /** The tree state (for tests and commands). */
  get tree(): CatalogTree {
    return this._tree;
  }

  /** The current search term. */
  get query(): string {
    return this._search.value.trim();
  }

  set query(value: string) {
    this._search.value = value;
  }

  /**
   * (Re)load the catalog for the current search term. Concurrent calls are
   * fine: only the latest request's result is rendered.
   */
  async refresh(): Promise<void> {
    window.clearTimeout(this._searchTimer);
    const token = ++this._requestId;
    const query = this.query;
    this._loaded = true;
    this._setError(null);
    this._button.disabled = true;
    this._status.textContent = 'Loading…';
    try {
      const tables = await this._options.loadCatalog(query);
      if (token !== this._requestId || this.isDisposed) {
        return;
      }
      this._tree.clearColumns();
      this._quality?.clear();
      this._tree.setTables(tables);
      // Re-fetch the columns of tables that stay expanded.
      for (const table of tables) {
        const id = tableId(table.name);
        if (this._tree.isExpanded(id)) {
          this._tree.collapse(id);
          this._expand(id);
        }
      }
      this._render();
      this._status.textContent = this._summary(tables, query);
    } catch (error) {
      if (token !== this._requestId || this.isDisposed) {
        return;
      }
      console.error('DAP: failed to load the catalog', error);
      this._tree.setTables([]);
      this._list.replaceChildren();
      this._status.textContent = '';
      this._setError(userErrorMessage(error));
    } finally {
      if (token === this._requestId && !this.isDisposed) {
        this._button.disabled = false;
      }
    }
  }

  /** Apply a tree action (keyboard or click). */
  apply(action: TreeAction): void {
    switch (action.type) {
      case 'focus':
        this._focusRow(action.id);
        return;
      case 'expand':
        this._tree.focusedId = action.id;
        this._expand(action.id);
        break;
      case 'collapse':
        this._tree.focusedId = action.id;
        this._tree.collapse(action.id);
        break;
      case 'toggle':
        this._tree.focusedId = action.id;
        if (this._tree.isExpanded(action.id)) {
          this._tree.collapse(action.id);
        } else {
          this._expand(action.id);
        }
        break;
      case 'open':
        if (!this._tree.isDenied(action.table)) {
          this._options.openTable?.(action.table);
        }
        return;
    }
    this._render();
  }

  dispose(): void {
    window.clearTimeout(this._searchTimer);
    this._observer?.disconnect();
    this._observer = null;
    super.dispose();
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    if (!this._loaded) {
      void this.refresh();
    }
  }

  protected onActivateRequest(msg: Message): void {
    super.onActivateRequest(msg);
    if (!this.node.contains(this.node.ownerDocument.activeElement)) {
      this._search.focus();
    }
  }

  private _summary(tables: ICatalogTable[], query: string): string {
    const denied = tables.filter(t => t.readable === false).length;
    let text = formatTableCount(tables.length);
    if (query) {
      text += ` matching “${query}”`;
    }
    if (denied > 0) {
      text += ` (${denied} without access)`;
    }
    return text;
  }

  private _scheduleSearch(delay = this._options.debounceMs ?? SEARCH_DEBOUNCE_MS): void {
    window.clearTimeout(this._searchTimer);
    if (this.query === this._lastQuery && delay > 0) {
      return;
    }
    this._searchTimer = window.setTimeout(() => {
      this._lastQuery = this.query;
      void this.refresh();
    }, delay);
  }

  private _expand(id: string): void {
    const table = this._tree.expand(id);
    if (table === null) {
      return;
    }
    const token = this._requestId;
    this._options
      .loadColumns(table)
      .then(columns => {
        this._tree.setColumns(table, { status: 'loaded', columns });
      })
      .catch((error: unknown) => {
        this._tree.setColumns(table, {
          status: 'error',
          message: `Columns unavailable: ${userErrorMessage(error)}`
        });
      })
      .then(() => {
        if (token === this._requestId && !this.isDisposed) {
          this._render();
        }
      });
  }

  private _render(): void {
    const hadFocus = this._list.contains(this.node.ownerDocument.activeElement);
    const empty = this.query ? `No tables match “${this.query}”.` : EMPTY_MESSAGE;
    const quality = this._quality;
    renderTree(this._list, this._tree, empty, quality ? t => quality.get(t) : undefined);
    if (hadFocus) {
      this._focusRow(this._tree.focusedId);
    }
    this._watchQuality();
  }

  /**
   * Ask for the badges of the table rows drawn (tables of collapsed schemas
   * have none): when they scroll into view if the browser can tell,
   * else at once. The cache queues the calls; the tree never waits.
   */
  private _watchQuality(): void {
    const quality = this._quality;
    if (!quality) {
      return;
    }
    this._observer?.disconnect();
    const rows = (Array.from(this._list.children) as HTMLElement[]).filter(
      li =>
        li.dataset.table &&
        !li.classList.contains(TREE_CSS.denied) &&
        !quality.has(li.dataset.table)
    );
    if (!rows.length) {
      return;
    }
    const Observer = this.node.ownerDocument.defaultView?.IntersectionObserver;
    if (!Observer) {
      rows.forEach(li => quality.request(li.dataset.table!));
      return;
    }
    this._observer = new Observer(entries => {
      for (const entry of entries) {
        const li = entry.target as HTMLElement;
        if (entry.isIntersecting && li.dataset.table) {
          quality.request(li.dataset.table);
          this._observer?.unobserve(li);
        }
      }
    });
    rows.forEach(li => this._observer!.observe(li));
  }

  private _showQuality(table: string, status: IQualityStatus | null): void {
    if (this.isDisposed) {
      return;
    }
    for (const li of Array.from(this._list.children) as HTMLElement[]) {
      if (li.dataset.table === table && !li.classList.contains(TREE_CSS.denied)) {
        setRowQuality(li, status);
      }
    }
  }

  private _row(id: string | null | undefined): HTMLElement | null {
    if (!id) {
      return null;
    }
    for (const li of Array.from(this._list.children)) {
      if ((li as HTMLElement).dataset.id === id) {
        return li as HTMLElement;
      }
    }
    return null;
  }

  private _focusRow(id: string | null | undefined): void {
    const row = this._row(id);
    if (!row || !id) {
      return;
    }
    this._tree.focusedId = id;
    for (const li of Array.from(this._list.children) as HTMLElement[]) {
      const on = li === row;
      li.tabIndex = on ? 0 : -1;
      li.classList.toggle(TREE_CSS.focused, on);
    }
    row.focus();
    row.scrollIntoView?.({ block: 'nearest' });
  }

  private _onClick = (event: MouseEvent): void => {
    const target = event.target as HTMLElement;
    const row = target.closest<HTMLElement>('li[data-id]');
    if (!row || !this._list.contains(row)) {
      return;
    }
    const id = row.dataset.id!;
    if (target.closest(`.${TREE_CSS.open}`) && row.dataset.table) {
      this.apply({ type: 'open', table: row.dataset.table });
      return;
    }
    this._focusRow(id);
    if (this._tree.isExpandable(id)) {
      this.apply({ type: 'toggle', id });
    }
  };

  private _onDoubleClick = (event: MouseEvent): void => {
    const row = (event.target as HTMLElement).closest<HTMLElement>(
      `li.${CSS.item}[data-table]`
    );
    if (row && !(event.target as HTMLElement).closest(`.${TREE_CSS.open}`)) {
      this.apply({ type: 'open', table: row.dataset.table! });
    }
  };

  private _onKeyDown = (event: KeyboardEvent): void => {
    const row = (event.target as HTMLElement).closest<HTMLElement>('li[data-id]');
    const action = treeKeyAction(this._tree, event.key, row?.dataset.id ?? null);
    if (action) {
      event.preventDefault();
      event.stopPropagation();
      this.apply(action);
    }
  };

  private _setError(message: string | null): void {
    this._error?.remove();
    this._error = null;
    if (message !== null) {
      const doc = this.node.ownerDocument;
      this._error = renderError(message, doc);
      if (message === NOT_INSTALLED_MESSAGE) {
        const hint = doc.createElement('div');
        hint.className = 'dap-catalog-error-hint';
        hint.textContent = NOT_INSTALLED_HINT;
        this._error.appendChild(hint);
      }
      this._status.after(this._error);
    }
  }

  private _options: ICatalogPanelOptions;
  private _quality: QualityCache | null = null;
  private _observer: IntersectionObserver | null = null;
  private _tree = new CatalogTree();
  private _button: HTMLButtonElement;
  private _search: HTMLInputElement;
  private _status: HTMLDivElement;
  private _list: HTMLUListElement;
  private _error: HTMLDivElement | null = null;
  private _requestId = 0;
  private _loaded = false;
  private _searchTimer = 0;
  private _lastQuery = '';
}
