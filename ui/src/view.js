// Draws long lists (the transfers, the results on the server). Only the rows in view (and a few
// either side) have elements: the list element is as tall as all rows together, and each drawn
// row is placed at its index, so a list of thousands costs the page no more than a screenful.
// Drawn rows are keyed by id and redrawn only when their row object changed (the list's functions
// keep unchanged rows identical), so 200 transfers reporting progress ten times a second touch
// only the rows that moved and are seen.

import { actionsFor } from "./actions.js";
import { totals } from "./transfers.js";
import { formatBytes, formatBytesOf, formatDuration, formatSpeed, percent } from "./format.js";
import { errorMessage } from "./i18n.js";

/**
 * @typedef {object} ViewContext
 * @property {string} language
 * @property {(key: string, params?: Record<string, unknown>) => string} t
 * @property {(action: string, id: string) => void} onAction
 */

/** Rows drawn beyond each edge of the view, so scrolling and tabbing find them ready. */
const OVERSCAN = 6;
/** Space between rows, in CSS pixels. */
const ROW_GAP = 8;

/**
 * The rows to draw: those that cross the part of the list in view, plus `overscan` either side.
 * @param {{ listTop: number, viewHeight: number, pitch: number, count: number, overscan: number }} view
 *   `listTop` is the list's top edge relative to the top of the view (negative once scrolled past)
 * @returns {{ first: number, end: number }} indexes `first` up to, not including, `end`
 */
export function visibleRange({ listTop, viewHeight, pitch, count, overscan }) {
  if (count === 0 || !(pitch > 0)) return { first: 0, end: Math.min(count, overscan) };
  const from = Math.max(0, -listTop);
  const to = Math.max(0, viewHeight - listTop);
  const first = Math.max(0, Math.floor(from / pitch) - overscan);
  const end = Math.min(count, Math.ceil(to / pitch) + overscan);
  return { first: Math.min(first, end), end };
}

/**
 * A list that draws only the rows in view, each row an element keyed by its id and redrawn only
 * when its row object changed. Used by the transfers and by the results on the server.
 * @template Row
 */
export class WindowedList {
  /**
   * @param {HTMLElement} listElement
   * @param {{ createRow: (id: string) => HTMLLIElement,
   *           fillRow: (element: HTMLLIElement, row: Row, context: any) => void,
   *           sampleRow: Row }} rows how a row's element is made and filled, and a typical row to
   *   measure the rows' height on
   */
  constructor(listElement, rows) {
    this.listElement = listElement;
    this.rows = rows;
    /** @type {Map<string, { row: Row | null, index: number, element: HTMLLIElement }>} */
    this.drawn = new Map();
    this.language = "";
    /** Distance from one row's top to the next one's; measured on a sample row. */
    this.pitch = 0;
  }

  /** Forget the row height, e.g. after the window or its text size changed. */
  remeasure() {
    this.pitch = 0;
  }

  /** Whether the list takes up room on the page (it has none while its view is hidden). */
  isShown() {
    return this.listElement.getClientRects().length > 0;
  }

  /**
   * Draws the rows of `order` now in view (nothing while the list is hidden).
   * @param {readonly string[]} order the rows' ids, in the order shown
   * @param {(id: string) => Row} rowOf
   * @param {{ language: string }} context passed to `fillRow`; a new language redraws every row
   * @returns {{ first: number, end: number }} the indexes drawn
   */
  render(order, rowOf, context) {
    if (!this.isShown()) return { first: 0, end: 0 };
    const relabel = context.language !== this.language;
    this.language = context.language;
    // Rows are measured on a sample row before any is drawn, so the first batch is drawn in one
    // pass with the rows' real height.
    if (this.pitch === 0) this.pitch = this.measureRow(context);
    const count = order.length;
    const range = visibleRange({
      listTop: this.listElement.getBoundingClientRect().top,
      viewHeight: window.innerHeight,
      pitch: this.pitch,
      count,
      overscan: OVERSCAN,
    });
    /** @type {Map<string, number>} */
    const wanted = new Map();
    for (let index = range.first; index < range.end; index += 1) wanted.set(order[index], index);
    // The row holding the focus stays drawn wherever it is, so keyboard users never lose it.
    const focused = /** @type {HTMLElement | null} */ (document.activeElement?.closest("li[data-id]") ?? null);
    const focusedId = focused?.dataset.id;
    if (focusedId && this.drawn.has(focusedId) && !wanted.has(focusedId)) {
      const index = order.indexOf(focusedId);
      if (index >= 0) wanted.set(focusedId, index);
    }

    for (const [id, entry] of this.drawn) {
      if (!wanted.has(id)) {
        entry.element.remove();
        this.drawn.delete(id);
      }
    }
    const drawOrder = [...wanted].sort((a, b) => a[1] - b[1]);
    let previous = null;
    for (const [id, index] of drawOrder) {
      const row = rowOf(id);
      let entry = this.drawn.get(id);
      if (!entry) {
        entry = { row: null, index: -1, element: this.rows.createRow(id) };
        this.drawn.set(id, entry);
      }
      if (entry.row !== row || relabel) {
        this.rows.fillRow(entry.element, row, context);
        entry.row = row;
      }
      if (entry.index !== index) {
        entry.element.setAttribute("aria-posinset", String(index + 1));
        entry.index = index;
      }
      entry.element.setAttribute("aria-setsize", String(count));
      // Elements keep the rows' order, so Tab moves through them as they are shown.
      const expectedPosition = previous ? previous.nextSibling : this.listElement.firstChild;
      if (expectedPosition !== entry.element) {
        this.listElement.insertBefore(entry.element, expectedPosition);
      }
      previous = entry.element;
    }

    for (const [id] of drawOrder) {
      const entry = /** @type {{ index: number, element: HTMLLIElement }} */ (this.drawn.get(id));
      entry.element.style.transform = `translateY(${entry.index * this.pitch}px)`;
    }
    this.listElement.style.height = count === 0 ? "0" : `${count * this.pitch - ROW_GAP}px`;
    return range;
  }

  /**
   * The distance from one row's top to the next one's, from a hidden sample row.
   * @param {any} context
   */
  measureRow(context) {
    const sample = this.rows.createRow("");
    sample.style.visibility = "hidden";
    sample.setAttribute("aria-hidden", "true");
    this.rows.fillRow(sample, this.rows.sampleRow, context);
    this.listElement.append(sample);
    const height = sample.offsetHeight;
    sample.remove();
    // Should the row measure nothing, the next drawing measures again.
    return height > 0 ? height + ROW_GAP : 0;
  }
}

/** The transfer list: its rows (windowed), its totals, and status changes read out. */
export class ListView {
  /**
   * @param {HTMLElement} listElement
   * @param {HTMLElement} totalsElement
   * @param {HTMLElement} announcer an aria-live region
   */
  constructor(listElement, totalsElement, announcer) {
    this.listElement = listElement;
    this.totalsElement = totalsElement;
    this.announcer = announcer;
    /** @type {WindowedList<import("./transfers.js").Row>} */
    this.window = new WindowedList(listElement, {
      createRow: createRowElement,
      fillRow: fillRowElement,
      sampleRow: SAMPLE_ROW,
    });
    /** Each row's status when last drawn, to announce changes of rows out of view too. */
    /** @type {Map<string, string>} */
    this.statuses = new Map();
    /** @type {ViewContext | null} */
    this.context = null;
    listElement.addEventListener("click", (event) => {
      const button = /** @type {HTMLElement} */ (event.target).closest("button[data-action]");
      const item = button?.closest("li[data-id]");
      if (button && item && this.context) {
        this.context.onAction(button.dataset.action ?? "", /** @type {HTMLElement} */ (item).dataset.id ?? "");
      }
    });
  }

  /** Forget the row height, e.g. after the window or its text size changed. */
  remeasure() {
    this.window.remeasure();
  }

  /**
   * Brings the page up to date with `list`, drawing the rows now in view.
   * @param {import("./transfers.js").TransferList} list
   * @param {ViewContext} context
   */
  render(list, context) {
    this.context = context;
    this.announceChanges(list, context);
    const sums = totals(list);
    this.totalsElement.textContent =
      sums.count === 0 ? context.t("totals.empty") : context.t("totals.summary", sums);
    this.totalsElement.dataset.count = String(sums.count);
    this.totalsElement.dataset.ready = String(sums.ready);
    // While another view is shown the list has no size to measure and nothing to show; it is
    // drawn when its view comes back.
    this.window.render(list.order, (id) => list.rows[id], context);
  }

  /**
   * Reads out the newest status change, of any row, in view or not.
   * @param {import("./transfers.js").TransferList} list
   * @param {ViewContext} context
   */
  announceChanges(list, context) {
    for (const id of this.statuses.keys()) {
      if (!list.rows[id]) this.statuses.delete(id);
    }
    for (const id of list.order) {
      const row = list.rows[id];
      const before = this.statuses.get(id);
      if (before !== undefined && before !== row.status) {
        this.announcer.textContent = `${row.name}: ${context.t(`status.${row.status}`)}`;
      }
      this.statuses.set(id, row.status);
    }
  }
}

/** @type {import("./transfers.js").Row} a row in motion, to measure the height rows have */
const SAMPLE_ROW = {
  id: "",
  name: "sample.pdf",
  size: 1_000_000,
  status: "uploading",
  transferred: 500_000,
  total: 1_000_000,
  bytesPerSecond: 1_000_000,
  etaSeconds: 1,
  error: null,
  retrying: null,
  resuming: null,
  startedOver: null,
  resultPath: null,
};

/** @param {string} id */
function createRowElement(id) {
  const item = document.createElement("li");
  item.className = "transfer";
  item.dataset.id = id;
  item.innerHTML = `
    <span class="transfer-name"></span>
    <span class="transfer-status"></span>
    <progress max="100" value="0"></progress>
    <span class="transfer-detail"></span>
    <span class="transfer-actions"></span>`;
  return item;
}

/**
 * @param {HTMLLIElement} item
 * @param {import("./transfers.js").Row} row
 * @param {ViewContext} context
 */
function fillRowElement(item, row, context) {
  const { t } = context;
  item.dataset.status = row.status;
  const name = /** @type {HTMLElement} */ (item.querySelector(".transfer-name"));
  name.textContent = `${row.name} · ${formatBytes(row.size)}`;
  name.title = row.name;
  /** @type {HTMLElement} */ (item.querySelector(".transfer-status")).textContent = t(
    `status.${row.status}`,
  );
  const bar = /** @type {HTMLProgressElement} */ (item.querySelector("progress"));
  bar.value = row.status === "ready" ? 100 : percent(row.transferred, row.total);
  bar.setAttribute("aria-label", `${row.name}: ${bar.value}%`);
  const detailElement = /** @type {HTMLElement} */ (item.querySelector(".transfer-detail"));
  detailElement.textContent = detail(row, context);
  detailElement.title = detailElement.textContent;

  const wanted = actionsFor(row);
  const actions = /** @type {HTMLElement} */ (item.querySelector(".transfer-actions"));
  // Buttons are remade only when they change, so a focused Cancel keeps the focus while its row
  // reports progress.
  const key = `${context.language}:${wanted.map((action) => action.name).join(",")}`;
  if (actions.dataset.key === key) return;
  actions.dataset.key = key;
  actions.replaceChildren(
    ...wanted.map(({ name, label }) => {
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.action = name;
      button.textContent = t(label);
      button.setAttribute("aria-label", `${t(label)}: ${row.name}`);
      return button;
    }),
  );
}

/**
 * The line under a row's name: progress figures, a pending retry, a resumed transfer's head
 * start, a note that it started over, or why it failed.
 * @param {import("./transfers.js").Row} row
 * @param {ViewContext} context
 */
export function detail(row, { t }) {
  if (row.status === "failed") return errorMessage(row.error, t);
  if (row.retrying) {
    return t("row.retrying", {
      reason: errorMessage({ kind: row.retrying.kind, message: row.retrying.reason }, t),
      delay: formatDuration(row.retrying.delaySeconds, t),
    });
  }
  if (row.status === "processing") return t("row.processing");
  if (row.status === "paused") return t("row.paused");
  if (row.status === "uploading" || row.status === "downloading") {
    const uploading = row.status === "uploading";
    if (row.resuming) {
      const [done, total] = formatBytesOf(row.resuming.alreadySent, row.resuming.total);
      return t(uploading ? "row.resumingUpload" : "row.resumingDownload", { done, total });
    }
    const progress = t("row.progress", {
      done: formatBytes(row.transferred),
      total: formatBytes(row.total),
      speed: formatSpeed(row.bytesPerSecond),
      left: formatDuration(row.etaSeconds, t),
    });
    // A reason this page does not know gets no note rather than a message key.
    const noteKey = `row.${uploading ? "startedOverUpload" : "startedOverDownload"}.${row.startedOver}`;
    const note = row.startedOver ? t(noteKey) : noteKey;
    return note !== noteKey ? `${note} ${progress}` : progress;
  }
  return "";
}
