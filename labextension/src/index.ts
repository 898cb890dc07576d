import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';

import { CatalogPanel } from './panel';

export { requestAPI } from './handler';
export { CatalogPanel, catalogIcon, PANEL_ID } from './panel';

/** Command that reloads the catalog panel. */
const REFRESH_COMMAND = 'dap:refresh-catalog';

/**
 * The DAP front-end plugin: adds the "DAP catalog" panel to the left
 * sidebar.
 */
const plugin: JupyterFrontEndPlugin<void> = {
  id: '@dap/labextension:plugin',
  description: 'DAP data catalog side panel',
  autoStart: true,
  optional: [ILayoutRestorer],
  activate: (app: JupyterFrontEnd, restorer: ILayoutRestorer | null) => {
    const panel = new CatalogPanel();
    app.shell.add(panel, 'left', { rank: 600, type: 'DAP catalog' });
    if (restorer) {
      restorer.add(panel, panel.id);
    }

    app.commands.addCommand(REFRESH_COMMAND, {
      label: 'Refresh DAP catalog',
      caption: 'Reload the list of tables from the DAP server',
      execute: () => panel.refresh()
    });
  }
};

export default plugin;
