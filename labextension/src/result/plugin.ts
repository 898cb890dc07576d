/**
 * Renders `application/vnd.dap.result+json` in notebooks as the result grid
 * (renderer.ts). The renderer is added to each notebook's rendermime, as it
 * needs that notebook's kernel for pages; elsewhere (consoles, Voilà,
 * nbconvert) the bundle's formatted HTML form is shown.
 */
import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { INotebookTracker } from '@jupyterlab/notebook';

import {
  KernelPageSource,
  RESULT_RANK,
  resultRendererFactory
} from './renderer';

export const resultPlugin: JupyterFrontEndPlugin<void> = {
  id: '@dap/labextension:result-grid',
  description: 'DAP query results as a virtualized, sortable grid',
  autoStart: true,
  // optional: front ends without notebooks (Voilà) load this extension too
  optional: [INotebookTracker],
  activate: (_app: JupyterFrontEnd, notebooks: INotebookTracker | null) => {
    notebooks?.widgetAdded.connect((_, panel) => {
      const source = new KernelPageSource(panel.sessionContext);
      panel.content.rendermime.addFactory(
        resultRendererFactory(source),
        RESULT_RANK
      );
    });
  }
};
