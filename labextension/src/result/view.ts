/**
 * The result view: a status line with Copy and Download, over a
 * @lumino/datagrid grid (canvas-drawn, so only the visible cells exist:
 * a million rows cost what twenty do). Headers show name (and the sort),
 * type and a distribution sparkline; a click on a header sorts; numbers are
 * right-aligned and formatted per column; null reads `null`, greyed and
 * italic, unlike the text "null".
 */
import {
  BasicKeyHandler,
  BasicMouseHandler,
  BasicSelectionModel,
  CellRenderer,
  DataGrid,
  GraphicsContext,
  TextRenderer
} from '@lumino/datagrid';
import { MessageLoop } from '@lumino/messaging';
import { Panel, Widget } from '@lumino/widgets';

import {
  CellValue,
  IHistogram,
  IResultBundle,
  ITopValues,
  NULL_TEXT,
  delimited,
  formatCell,
  formatNumber,
  isNumeric,
  sparklineBars,
  sparklineTitle,
  typeLine
} from './format';
import { IPageSource, ResultModel, SPARKLINE_ROW } from './model';

export const RESULT_CSS = {
  view: 'dap-result-view',
  bar: 'dap-result-bar',
  status: 'dap-result-status',
  copy: 'dap-result-copy',
  download: 'dap-result-download',
  grid: 'dap-result-grid',
  summary: 'dap-result-summary'
} as const;

export const ROW_HEIGHT = 22;
export const HEADER_HEIGHTS = [24, 18, 22];
const VISIBLE_ROWS = 15;
const CHAR_WIDTH = 7;
const MIN_WIDTH = 64;
const MAX_WIDTH = 320;
const LOADING_TEXT = '…';

function cssVar(name: string, fallback: string): string {
  const value =
    typeof document !== 'undefined'
      ? getComputedStyle(document.body).getPropertyValue(name).trim()
      : '';
  return value || fallback;
}

/** Draws a header's sparkline: a histogram or the top values as bars. */
export class SparklineRenderer extends CellRenderer {
  constructor(
    private readonly color: string,
    private readonly background: string
  ) {
    super();
  }

  paint(gc: GraphicsContext, config: CellRenderer.CellConfig): void {
    gc.fillStyle = this.background;
    gc.fillRect(config.x, config.y, config.width, config.height);
    const spark = config.value as IHistogram | ITopValues | null;
    if (!spark) {
      return;
    }
    const bars = sparklineBars(spark);
    const pad = 4;
    const height = config.height - 2 * pad;
    const slot = Math.min(8, (config.width - 2 * pad) / Math.max(1, bars.length));
    gc.fillStyle = this.color;
    bars.forEach((b, i) => {
      const h = b > 0 ? Math.max(1, Math.round(b * height)) : 0;
      gc.fillRect(
        config.x + pad + i * slot,
        config.y + pad + height - h,
        Math.max(1, slot - 1),
        h
      );
    });
  }
}

/** A click inside a column header sorts; near its border it resizes. */
class SortingMouseHandler extends BasicMouseHandler {
  constructor(private readonly onSort: (column: number) => void) {
    super();
  }

  onMouseDown(grid: DataGrid, event: MouseEvent): void {
    const hit = grid.hitTest(event.clientX, event.clientY);
    if (
      hit.region === 'column-header' &&
      event.button === 0 &&
      hit.x > 6 &&
      hit.width - hit.x > 6
    ) {
      this.onSort(hit.column);
      return;
    }
    super.onMouseDown(grid, event);
  }
}

/** Rows the grid shows now (loaded ones), for Copy without a selection. */
function visibleRows(grid: DataGrid, model: ResultModel): CellValue[][] {
  const first = Math.max(0, Math.floor(grid.scrollY / ROW_HEIGHT));
  const count = Math.ceil(grid.viewportHeight / ROW_HEIGHT) + 1;
  const rows: CellValue[][] = [];
  for (let r = first; r < Math.min(first + count, model.rowCount('body')); r++) {
    const values = model.rowValues(r);
    if (values) {
      rows.push(values);
    }
  }
  return rows;
}

export class ResultView extends Panel {
  readonly model: ResultModel;
  readonly grid: DataGrid;

  constructor(bundle: IResultBundle, source: IPageSource | null) {
    super();
    this.addClass(RESULT_CSS.view);
    // for browser tests and the console: the grid draws on a canvas
    (this.node as any).dapResultView = this;
    const bar = document.createElement('div');
    bar.className = RESULT_CSS.bar;
    this._status = document.createElement('span');
    this._status.className = RESULT_CSS.status;
    const copy = this._button('Copy', RESULT_CSS.copy, () => void this.copy());
    copy.title =
      'Copy the selected cells (or the rows in view) as tab-separated text';
    const download = this._button(
      'Download CSV',
      RESULT_CSS.download,
      () => void this.download()
    );
    download.title = 'Download the whole result, in its current order, as CSV';
    // the grid is a canvas: its columns in words, for screen readers (and find)
    const summary = document.createElement('span');
    summary.className = RESULT_CSS.summary;
    summary.textContent =
      'Columns: ' +
      bundle.columns.map(c => `${c.name} (${c.type})`).join(', ');
    bar.append(this._status, summary, copy, download);
    this.addWidget(new Widget({ node: bar }));

    this.model = new ResultModel(bundle, source, text => this._showStatus(text));
    this._showStatus(this.model.status);
    this.grid = this._makeGrid();
    this.addWidget(this.grid);
    const shown = Math.min(VISIBLE_ROWS, Math.max(1, bundle.row_count));
    const height =
      HEADER_HEIGHTS.reduce((a, b) => a + b, 0) + shown * ROW_HEIGHT + 16;
    this.grid.node.style.height = `${height}px`;
  }

  /** Sort by a column (cycling asc → desc → none), as a header click does. */
  async sortBy(column: number): Promise<void> {
    const sorted = this.model.toggleSort(column); // resets the model at once
    this.grid.scrollTo(0, 0); // then show the top of the new order
    await sorted;
  }

  /** The text a body cell shows (`…` until its page arrives). */
  cellText(row: number, column: number): string {
    return this._text(this.model.value(row, column), column);
  }

  /** The text Copy puts on the clipboard. */
  copyText(): string {
    const selection = this.grid.selectionModel;
    if (selection && !selection.isEmpty) {
      const rows: CellValue[][] = [];
      const columns = new Set<number>();
      for (const region of selection.selections()) {
        for (let r = region.r1; r <= region.r2; r++) {
          const values = this.model.rowValues(r) ?? [];
          const row: CellValue[] = [];
          for (let c = region.c1; c <= region.c2; c++) {
            columns.add(c);
            row.push(values[c] ?? null);
          }
          rows.push(row);
        }
      }
      const picked = [...columns].sort((a, b) => a - b);
      return delimited(
        picked.map(c => this.model.columns[c]),
        rows
      );
    }
    return delimited(this.model.columns, visibleRows(this.grid, this.model));
  }

  async copy(): Promise<void> {
    await navigator.clipboard.writeText(this.copyText());
    this._showStatus(`${this.model.status} · copied`);
  }

  async download(): Promise<void> {
    this._showStatus(`${this.model.status} · preparing the download…`);
    try {
      const csv = await this.model.csv();
      const url = URL.createObjectURL(new Blob([csv], { type: 'text/csv' }));
      const link = document.createElement('a');
      link.href = url;
      link.download = 'result.csv';
      document.body.appendChild(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      this._showStatus(this.model.status);
    } catch (error) {
      this._showStatus(`${this.model.status} · download failed: ${error}`);
    }
  }

  protected onAfterAttach(): void {
    // a theme switch changes the CSS variables the canvas colours come from
    this._themeObserver = new MutationObserver(() => this._theme(this.grid));
    this._themeObserver.observe(document.body, {
      attributes: true,
      attributeFilter: ['data-jp-theme-name']
    });
    if (typeof ResizeObserver !== 'undefined') {
      this._observer = new ResizeObserver(() =>
        MessageLoop.sendMessage(this.grid, Widget.ResizeMessage.UnknownSize)
      );
      this._observer.observe(this.grid.node);
    }
    MessageLoop.sendMessage(this.grid, Widget.ResizeMessage.UnknownSize);
  }

  protected onBeforeDetach(): void {
    this._observer?.disconnect();
    this._observer = null;
    this._themeObserver?.disconnect();
    this._themeObserver = null;
  }

  private _makeGrid(): DataGrid {
    const grid = new DataGrid({
      defaultSizes: {
        rowHeight: ROW_HEIGHT,
        columnWidth: 120,
        rowHeaderWidth: 64,
        columnHeaderHeight: HEADER_HEIGHTS[0]
      },
      copyConfig: {
        separator: '\t',
        // raw values, as the Copy button; the header rows hold sparklines
        format: ({ value }) =>
          value === null || value === undefined || typeof value === 'object'
            ? ''
            : String(value),
        headers: 'none',
        warningThreshold: 1e6
      }
    });
    grid.addClass(RESULT_CSS.grid);
    HEADER_HEIGHTS.forEach((h, i) => grid.resizeRow('column-header', i, h));
    grid.dataModel = this.model;
    grid.keyHandler = new BasicKeyHandler();
    grid.mouseHandler = new SortingMouseHandler(c => void this.sortBy(c));
    grid.selectionModel = new BasicSelectionModel({ dataModel: this.model });
    this._theme(grid);
    this._fitColumns(grid);
    grid.node.title = this.model.columns
      .map(c => (c.sparkline ? `${c.name}: ${sparklineTitle(c.sparkline)}` : ''))
      .filter(Boolean)
      .join('\n');
    return grid;
  }

  /** Colours from the JupyterLab theme (a canvas cannot use CSS variables). */
  private _theme(grid: DataGrid): void {
    const header = cssVar('--jp-layout-color2', '#eeeeee');
    grid.style = {
      ...DataGrid.defaultStyle,
      backgroundColor: cssVar('--jp-layout-color0', '#ffffff'),
      headerBackgroundColor: header,
      gridLineColor: cssVar('--jp-border-color3', '#eeeeee'),
      headerGridLineColor: cssVar('--jp-border-color2', '#e0e0e0'),
      voidColor: cssVar('--jp-layout-color0', '#ffffff'),
      selectionFillColor: 'rgba(49, 119, 180, 0.2)',
      headerSelectionFillColor: 'rgba(49, 119, 180, 0.2)'
    };
    const text = cssVar('--jp-ui-font-color1', '#212121');
    const muted = cssVar('--jp-ui-font-color2', '#757575');
    const font = '12px system-ui, sans-serif';
    const body = new TextRenderer({
      font: ({ value }) => (value === null ? `italic ${font}` : font),
      textColor: ({ value }) =>
        value === null || value === undefined ? muted : text,
      horizontalAlignment: ({ column }) =>
        isNumeric(this.model.columns[column]) ? 'right' : 'left',
      format: ({ value, column }) => this._text(value, column)
    });
    const names = new TextRenderer({
      font: `bold ${font}`,
      textColor: text,
      backgroundColor: header
    });
    const types = new TextRenderer({
      font: '11px system-ui, sans-serif',
      textColor: muted,
      backgroundColor: header
    });
    const spark = new SparklineRenderer(
      cssVar('--jp-brand-color2', '#6a9fd4'),
      header
    );
    grid.cellRenderers.update({
      body,
      'column-header': (config: CellRenderer.CellConfig) =>
        config.row === 0 ? names : config.row === SPARKLINE_ROW ? spark : types,
      'row-header': new TextRenderer({
        font,
        textColor: muted,
        horizontalAlignment: 'right',
        backgroundColor: header
      }),
      'corner-header': names
    });
  }

  /** Column widths from the header and the first page's texts. */
  private _fitColumns(grid: DataGrid): void {
    const width = (chars: number) =>
      Math.min(MAX_WIDTH, Math.max(MIN_WIDTH, chars * CHAR_WIDTH + 20));
    const rows = Math.min(this.model.rowCount('body'), 200);
    this.model.columns.forEach((column, c) => {
      let chars = Math.max(column.name.length + 2, typeLine(column).length * 0.9);
      for (let r = 0; r < rows; r++) {
        chars = Math.max(chars, this.cellText(r, c).length);
      }
      const spark = column.sparkline;
      if (spark?.kind === 'histogram' && isNumeric(column)) {
        // the extremes of all rows: a sort brings them to the top
        for (const extreme of [spark.min, spark.max]) {
          chars = Math.max(chars, (formatCell(extreme, column) ?? '').length);
        }
      }
      grid.resizeColumn('body', c, width(chars));
    });
    const label = formatNumber(this.model.rowCount('body'), 0);
    grid.resizeColumn('row-header', 0, Math.max(48, label.length * CHAR_WIDTH + 16));
  }

  private _text(value: CellValue | undefined, column: number): string {
    return value === undefined
      ? LOADING_TEXT
      : (formatCell(value, this.model.columns[column]) ?? NULL_TEXT);
  }

  private _button(label: string, css: string, onClick: () => void): HTMLButtonElement {
    const button = document.createElement('button');
    button.className = `jp-mod-styled ${css}`;
    button.textContent = label;
    button.addEventListener('click', onClick);
    return button;
  }

  private _showStatus(text: string): void {
    this._status.textContent = text;
  }

  private _status: HTMLSpanElement;
  private _observer: ResizeObserver | null = null;
  private _themeObserver: MutationObserver | null = null;
}
