import { LabIcon } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import {
  CSS,
  ICatalogTable,
  formatTableCount,
  parseCatalogResponse,
  renderCatalogList,
  renderError
} from './catalog';
import { requestAPI } from './handler';

/** DOM id of the side panel. */
export const PANEL_ID = 'dap-catalog-panel';

/** Caption / header text of the panel. */
export const PANEL_TITLE = 'DAP catalog';

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
 * Loads the catalog; injectable so the panel can be driven without a server.
 */
export type CatalogLoader = () => Promise<ICatalogTable[]>;

/** Default loader: `GET /dap/api/v1/catalog`. */
export async function fetchCatalog(): Promise<ICatalogTable[]> {
  const data = await requestAPI<unknown>('catalog');
  return parseCatalogResponse(data);
}

function errorMessage(error: unknown): string {
  if (error instanceof Error && error.message) {
    return error.message;
  }
  return String(error) || 'Unknown error';
}

/**
 * Left sidebar panel listing the tables of the DAP catalog.
 *
 * The catalog is loaded the first time the panel is shown and again on
 * every click on "Refresh".
 */
export class CatalogPanel extends Widget {
  constructor(loader: CatalogLoader = fetchCatalog) {
    super();
    this._loader = loader;
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

    this._status = doc.createElement('div');
    this._status.className = CSS.status;
    this._status.setAttribute('aria-live', 'polite');

    this._list = doc.createElement('ul');
    this._list.className = CSS.list;

    this.node.append(header, this._status, this._list);
  }

  /** The tables currently displayed. */
  get tables(): ReadonlyArray<ICatalogTable> {
    return this._tables;
  }

  /**
   * (Re)load the catalog. Concurrent calls are fine: only the latest
   * request's result is rendered.
   */
  async refresh(): Promise<void> {
    const token = ++this._requestId;
    this._loaded = true;
    this._setError(null);
    this._button.disabled = true;
    this._status.textContent = 'Loading…';
    try {
      const tables = await this._loader();
      if (token !== this._requestId || this.isDisposed) {
        return;
      }
      this._tables = tables;
      renderCatalogList(this._list, tables);
      this._status.textContent = formatTableCount(tables.length);
    } catch (error) {
      if (token !== this._requestId || this.isDisposed) {
        return;
      }
      console.error('DAP: failed to load the catalog', error);
      this._tables = [];
      this._list.replaceChildren();
      this._status.textContent = '';
      this._setError(errorMessage(error));
    } finally {
      if (token === this._requestId && !this.isDisposed) {
        this._button.disabled = false;
      }
    }
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    if (!this._loaded) {
      void this.refresh();
    }
  }

  private _setError(message: string | null): void {
    this._error?.remove();
    this._error = null;
    if (message !== null) {
      this._error = renderError(message, this.node.ownerDocument);
      this._status.after(this._error);
    }
  }

  private _loader: CatalogLoader;
  private _button: HTMLButtonElement;
  private _status: HTMLDivElement;
  private _list: HTMLUListElement;
  private _error: HTMLDivElement | null = null;
  private _tables: ICatalogTable[] = [];
  private _requestId = 0;
  private _loaded = false;
}
