/** Tiny DOM helpers shared by the builder and lineage widgets. */

type Attrs = Record<string, string | number | boolean | undefined>;

/** Create an element with attributes (`false`/`undefined` are left out) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  doc: Document,
  tag: K,
  attrs: Attrs = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = doc.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) {
      continue;
    }
    if (key === 'className') {
      node.className = String(value);
    } else {
      node.setAttribute(key, value === true ? '' : String(value));
    }
  }
  node.append(...children);
  return node;
}

/** A real `<button type="button">` styled like JupyterLab's. */
export function button(
  doc: Document,
  text: string,
  onClick: () => void,
  attrs: Attrs = {}
): HTMLButtonElement {
  const b = h(doc, 'button', {
    type: 'button',
    ...attrs,
    className: `jp-Button jp-mod-styled ${attrs.className ?? 'jp-mod-reject'}`
  });
  b.textContent = text;
  b.addEventListener('click', onClick);
  return b;
}

/** A `<select>` with options `[value, label]`; `selected` is chosen. */
export function select(
  doc: Document,
  options: ReadonlyArray<readonly [string, string]>,
  selected: string,
  onChange: (value: string) => void,
  attrs: Attrs = {}
): HTMLSelectElement {
  const s = h(doc, 'select', {
    ...attrs,
    className: `jp-mod-styled ${attrs.className ?? ''}`.trim()
  });
  for (const [value, label] of options) {
    const o = h(doc, 'option', { value });
    o.textContent = label;
    o.selected = value === selected;
    s.append(o);
  }
  s.value = selected;
  s.addEventListener('change', () => onChange(s.value));
  return s;
}

/** `<label>` with visible text around a control. */
export function labeled(
  doc: Document,
  text: string,
  control: HTMLElement,
  className = 'dap-field'
): HTMLLabelElement {
  if (!control.hasAttribute('aria-label')) {
    // The label's text would include a select's options otherwise.
    control.setAttribute('aria-label', text);
  }
  const span = h(doc, 'span', { className: 'dap-field-label' });
  span.textContent = text;
  return h(doc, 'label', { className }, span, control);
}

/** The element's focus key (`data-focus`), to give focus back after a re-render. */
export function focusKey(doc: Document, root: HTMLElement): string | null {
  const active = doc.activeElement;
  if (active instanceof HTMLElement && root.contains(active)) {
    return active.dataset.focus ?? null;
  }
  return null;
}

export function restoreFocus(root: HTMLElement, key: string | null): void {
  if (key === null) {
    return;
  }
  const target = root.querySelector<HTMLElement>(
    `[data-focus="${key.replace(/"/g, '\\"')}"]`
  );
  target?.focus();
}
