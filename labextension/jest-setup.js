// jsdom does not implement DragEvent, which @lumino/dragdrop references at
// import time. Provide a minimal stand-in for the unit tests.
if (typeof globalThis.DragEvent === 'undefined') {
  globalThis.DragEvent = class DragEvent extends MouseEvent {
    constructor(type, init = {}) {
      super(type, init);
      this.dataTransfer = init.dataTransfer || null;
    }
  };
}

// jsdom has no canvas (@lumino/datagrid draws on one, and measures text at
// import time): a 2D context whose calls do nothing.
const noCanvas = new Proxy(
  {},
  {
    get: (_target, key) =>
      key === 'measureText' ? () => ({ width: 10 }) : () => undefined,
    set: () => true
  }
);
HTMLCanvasElement.prototype.getContext = function getContext() {
  return noCanvas;
};
