/**
 * The renderer of `application/vnd.dap.result+json`: the result grid.
 *
 * Pages come from the notebook's own kernel over the `dap.result` comm
 * (dap_kernel/grid/pages.py): the rows are where the query returned them,
 * and a comm reaches only that kernel, so no other session can read them.
 */
import type { ISessionContext } from '@jupyterlab/apputils';
import type { IRenderMime } from '@jupyterlab/rendermime-interfaces';
import type { Kernel, KernelMessage } from '@jupyterlab/services';
import { PanelLayout, Widget } from '@lumino/widgets';

import { IResultBundle, RESULT_MIME } from './format';
import { ICsvChunk, IPage, IPageSource, ISortKey } from './model';
import { ResultView } from './view';

export const COMM_TARGET = 'dap.result';
/** Before text/html (rank 50) and the kernel's other rich types. */
export const RESULT_RANK = 5;

interface IPending {
  resolve: (reply: any) => void;
  reject: (error: Error) => void;
}

/** Page requests to the kernel over one comm, answered by request id. */
export class KernelPageSource implements IPageSource {
  constructor(private readonly sessionContext: ISessionContext) {}

  page(
    handle: string,
    offset: number,
    limit: number,
    sort: ISortKey[]
  ): Promise<IPage> {
    return this._request({ op: 'page', handle, offset, limit, sort });
  }

  csv(handle: string, offset: number, sort: ISortKey[]): Promise<ICsvChunk> {
    return this._request({ op: 'csv', handle, offset, sort });
  }

  private _request(body: Record<string, any>): Promise<any> {
    const comm = this._open();
    if (!comm) {
      return Promise.reject(new Error('the kernel is not running'));
    }
    const id = ++this._next;
    return new Promise((resolve, reject) => {
      this._pending.set(id, { resolve, reject });
      comm.send({ id, ...body });
    });
  }

  private _open(): Kernel.IComm | null {
    const kernel = this.sessionContext.session?.kernel;
    if (!kernel) {
      return null;
    }
    if (this._comm && this._kernel === kernel && !this._comm.isDisposed) {
      return this._comm;
    }
    const comm = kernel.createComm(COMM_TARGET);
    comm.onMsg = (msg: KernelMessage.ICommMsgMsg) => {
      const reply = msg.content.data as any;
      const pending = this._pending.get(reply?.id);
      if (!pending) {
        return;
      }
      this._pending.delete(reply.id);
      if (reply.ok) {
        pending.resolve(reply);
      } else {
        pending.reject(new Error(String(reply.error)));
      }
    };
    comm.onClose = () => {
      // the kernel has no such target (no %load_ext dap_kernel), or restarted
      for (const pending of this._pending.values()) {
        pending.reject(new Error('the kernel does not serve this result'));
      }
      this._pending.clear();
      this._comm = null;
    };
    comm.open({});
    this._comm = comm;
    this._kernel = kernel;
    return comm;
  }

  private _comm: Kernel.IComm | null = null;
  private _kernel: Kernel.IKernelConnection | null = null;
  private _next = 0;
  private _pending = new Map<number, IPending>();
}

/** The rendermime renderer: a ResultView per output. */
export class ResultRenderer extends Widget implements IRenderMime.IRenderer {
  constructor(private readonly source: IPageSource | null) {
    super();
    this.layout = new PanelLayout();
    this.addClass('dap-result-output');
  }

  async renderModel(model: IRenderMime.IMimeModel): Promise<void> {
    const bundle = model.data[RESULT_MIME] as unknown as IResultBundle;
    const layout = this.layout as PanelLayout;
    for (const old of [...layout.widgets]) {
      old.dispose();
    }
    layout.addWidget(new ResultView(bundle, this.source));
  }
}

export function resultRendererFactory(
  source: IPageSource | null
): IRenderMime.IRendererFactory {
  return {
    safe: true, // values are drawn as text on a canvas, never as HTML
    mimeTypes: [RESULT_MIME],
    defaultRank: RESULT_RANK,
    createRenderer: () => new ResultRenderer(source)
  };
}

