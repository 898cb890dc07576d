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
