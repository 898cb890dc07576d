import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, InputDialog, MainAreaWidget } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookActions } from '@jupyterlab/notebook';

import { LineageWidget } from './lineage';
import type { DashboardPrompt } from './save';
import { QueryBuilderWidget, type INotebookTarget } from './widget';

/** "Save as dashboard" asks for the name in JupyterLab's own input dialog. */
const askDashboard: DashboardPrompt = async suggested => {
  const answer = await InputDialog.getText({
    title: `Save “${suggested.title}” as a dashboard`,
    label: 'Dashboard name (lower-case letters, digits, - and _)',
    text: suggested.name,
    okLabel: 'Publish'
  });
  return answer.button.accept && answer.value !== null
    ? { name: answer.value, title: suggested.title }
    : null;
};

/** Command: open a new visual query builder (args: optional `{table}`). */
export const OPEN_BUILDER_COMMAND = 'dap:open-builder';
/** Command: open the lineage graph of a table (args: `{table}`). */
export const OPEN_LINEAGE_COMMAND = 'dap:open-lineage';

/** "Insert as cell" over the notebook tracker: the last active notebook. */
export function notebookTarget(
  app: JupyterFrontEnd,
  tracker: INotebookTracker | null
): INotebookTarget | null {
  if (!tracker) {
    return null;
  }
  return {
    get available() {
      return tracker.currentWidget !== null;
    },
    onChange(listener) {
      const slot = (): void => listener();
      tracker.currentChanged.connect(slot);
      return () => tracker.currentChanged.disconnect(slot);
    },
    insert(source) {
      const panel = tracker.currentWidget;
      if (!panel) {
        return;
      }
      const notebook = panel.content;
      NotebookActions.insertBelow(notebook);
      if (notebook.activeCell?.model.type !== 'code') {
        NotebookActions.changeCellType(notebook, 'code');
      }
      notebook.activeCell?.model.sharedModel.setSource(source);
      app.shell.activateById(panel.id);
    }
  };
}

function tableArg(args: Record<string, unknown>): string {
  return typeof args.table === 'string' ? args.table : '';
}

const builderPlugin: JupyterFrontEndPlugin<void> = {
  id: '@dap/labextension:builder',
  description: 'DAP visual query builder and lineage graph',
  autoStart: true,
  optional: [ICommandPalette, INotebookTracker],
  activate: (
    app: JupyterFrontEnd,
    palette: ICommandPalette | null,
    tracker: INotebookTracker | null
  ) => {
    let lineage: MainAreaWidget<LineageWidget> | null = null;

    app.commands.addCommand(OPEN_LINEAGE_COMMAND, {
      label: args => (tableArg(args) ? `Lineage of ${tableArg(args)}` : 'DAP: Lineage graph'),
      caption: 'Show where a table comes from and what is built from it',
      execute: async args => {
        const table = tableArg(args);
        if (!lineage || lineage.isDisposed) {
          const content = new LineageWidget({ table });
          lineage = new MainAreaWidget({ content });
          lineage.id = `${content.id}-panel`;
          lineage.title.label = content.title.label;
          lineage.title.caption = content.title.caption;
          lineage.title.closable = true;
          content.title.changed.connect(() => {
            if (lineage) {
              lineage.title.label = content.title.label;
            }
          });
          app.shell.add(lineage, 'main');
          await content.ready;
        } else if (table) {
          await lineage.content.showTable(table);
        }
        app.shell.activateById(lineage.id);
        return lineage;
      }
    });

    app.commands.addCommand(OPEN_BUILDER_COMMAND, {
      label: 'DAP: New query',
      caption: 'Build a governed query visually',
      execute: args => {
        const content = new QueryBuilderWidget({
          table: tableArg(args),
          notebook: notebookTarget(app, tracker),
          askDashboard,
          openLineage: table =>
            void app.commands.execute(OPEN_LINEAGE_COMMAND, { table })
        });
        const widget = new MainAreaWidget({ content });
        widget.id = `${content.id}-panel`;
        widget.title.label = content.title.label;
        widget.title.caption = content.title.caption;
        widget.title.closable = true;
        content.title.changed.connect(() => {
          widget.title.label = content.title.label;
        });
        app.shell.add(widget, 'main');
        app.shell.activateById(widget.id);
        return widget;
      }
    });

    if (palette) {
      palette.addItem({ command: OPEN_BUILDER_COMMAND, category: 'DAP' });
      palette.addItem({ command: OPEN_LINEAGE_COMMAND, category: 'DAP' });
    }
  }
};

/** Plugins of the visual query builder and the lineage graph (see builder/). */
export const builderPlugins: JupyterFrontEndPlugin<any>[] = [builderPlugin];
