import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import {
  EditorExtensionRegistry,
  IEditorExtensionRegistry
} from '@jupyterlab/codemirror';
import { ICompletionProviderManager } from '@jupyterlab/completer';
import { INotebookTracker, NotebookActions } from '@jupyterlab/notebook';

import { fetchCatalog, fetchLineage, fetchQuality, fetchTableDetail } from './api';
import { builderPlugins } from './builder/plugin';
import { DapSqlCompletionProvider, SqlMetadataCache } from './completer';
import { CatalogPanel } from './panel';
import { reportsPlugins } from './reports/plugin';
import { resultPlugin } from './result/plugin';
import { dapSqlLanguage, sqlCellSource } from './sqlcell';
import { ITableActions, TableView } from './tableview';

export { requestAPI } from './handler';
export { CatalogPanel, catalogIcon, PANEL_ID } from './panel';

/** Command that reloads the catalog panel. */
const REFRESH_COMMAND = 'dap:refresh-catalog';
/** Opens the table panel: args `{table: "schema.table"}`. */
const OPEN_TABLE_COMMAND = 'dap:open-table';
/** Inserts a `%%dap sql` cell for a table: args `{table: "schema.table"}`. */
const INSERT_CELL_COMMAND = 'dap:insert-sql-cell';
/** Registered by the visual query builder plugin (builder/). */
const BUILDER_COMMAND = 'dap:open-builder';

/** Sample rows shown in the table panel. */
const SAMPLE_ROWS = 20;

/**
 * Catalog browser: the "DAP catalog" panel in the left sidebar (search,
 * schema → tables → columns) and the table panels it opens in the main area.
 */
const catalogPlugin: JupyterFrontEndPlugin<void> = {
  id: '@dap/labextension:plugin',
  description: 'DAP data catalog browser',
  autoStart: true,
  optional: [ILayoutRestorer, INotebookTracker],
  activate: (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    notebooks: INotebookTracker | null
  ) => {
    const views = new Map<string, TableView>();

    const insertCell = (table: string): boolean => {
      const current = notebooks?.currentWidget;
      if (!current) {
        return false;
      }
      const notebook = current.content;
      NotebookActions.insertBelow(notebook);
      const cell = notebook.activeCell;
      if (cell) {
        if (cell.model.type !== 'code') {
          NotebookActions.changeCellType(notebook, 'code');
        }
        notebook.activeCell?.model.sharedModel.setSource(sqlCellSource(table));
      }
      app.shell.activateById(current.id);
      notebook.activate();
      return true;
    };

    const actions: ITableActions = {
      canOpenBuilder: () => app.commands.hasCommand(BUILDER_COMMAND),
      openBuilder: table => {
        if (app.commands.hasCommand(BUILDER_COMMAND)) {
          void app.commands.execute(BUILDER_COMMAND, { table });
        }
      },
      canInsertCell: () => !!notebooks?.currentWidget,
      insertCell: table => void insertCell(table)
    };

    const openTable = (table: string): TableView => {
      let view = views.get(table);
      if (!view || view.isDisposed) {
        view = new TableView(table, {
          loadDetail: t => fetchTableDetail(t, SAMPLE_ROWS),
          loadLineage: t => fetchLineage(t),
          loadQuality: async t => {
            const status = await fetchQuality(t);
            panel.updateQuality(t, status); // the tree's dot follows the panel's fresh badge
            return status;
          },
          actions
        });
        views.set(table, view);
        view.disposed.connect(() => views.delete(table));
        app.shell.add(view, 'main');
      }
      app.shell.activateById(view.id);
      return view;
    };

    const updateActions = (): void => {
      for (const view of views.values()) {
        view.updateActions();
      }
    };
    notebooks?.currentChanged.connect(updateActions);
    app.commands.commandChanged.connect((_, change) => {
      if (change.id === BUILDER_COMMAND) {
        updateActions();
      }
    });

    const panel = new CatalogPanel({
      loadCatalog: q => fetchCatalog({ q, includeDenied: true }),
      loadColumns: async table => (await fetchTableDetail(table, 0)).columns,
      loadQuality: fetchQuality,
      openTable: table => void openTable(table)
    });
    app.shell.add(panel, 'left', { rank: 600, type: 'DAP catalog' });
    if (restorer) {
      restorer.add(panel, panel.id);
    }

    app.commands.addCommand(REFRESH_COMMAND, {
      label: 'Refresh DAP catalog',
      caption: 'Reload the list of tables from the DAP server',
      execute: () => panel.refresh()
    });
    app.commands.addCommand(OPEN_TABLE_COMMAND, {
      label: args => (args.table ? `Open DAP table ${args.table}` : 'Open DAP table'),
      caption: 'Show a table of the DAP catalog: columns, statistics, sample rows, lineage',
      execute: args => {
        const table = String(args.table ?? '');
        if (table) {
          openTable(table);
        }
      }
    });
    app.commands.addCommand(INSERT_CELL_COMMAND, {
      label: 'Insert %%dap sql cell',
      caption: 'Insert a %%dap sql cell reading the table below the active cell',
      isEnabled: () => !!notebooks?.currentWidget,
      execute: args => insertCell(String(args.table ?? ''))
    });
  }
};

/**
 * `%%dap sql` cells: SQL highlighting in their editors and completion of
 * catalog table and column names (provider `dap:sql`).
 */
const sqlCellsPlugin: JupyterFrontEndPlugin<void> = {
  id: '@dap/labextension:sql-cells',
  description: 'SQL highlighting and catalog completion in %%dap sql cells',
  autoStart: true,
  optional: [IEditorExtensionRegistry, ICompletionProviderManager],
  activate: (
    app: JupyterFrontEnd,
    extensions: IEditorExtensionRegistry | null,
    completion: ICompletionProviderManager | null
  ) => {
    extensions?.addExtension({
      name: 'dap:sql-cell-language',
      factory: options =>
        EditorExtensionRegistry.createImmutableExtension(
          dapSqlLanguage(options.model.sharedModel.getSource())
        )
    });
    if (completion) {
      const cache = new SqlMetadataCache({
        loadTables: () => fetchCatalog(),
        loadColumns: async table => (await fetchTableDetail(table, 0)).columns
      });
      completion.registerProvider(new DapSqlCompletionProvider(cache));
    }
  }
};

const plugins: JupyterFrontEndPlugin<any>[] = [
  catalogPlugin,
  sqlCellsPlugin,
  resultPlugin,
  ...builderPlugins,
  ...reportsPlugins
];

export default plugins;
