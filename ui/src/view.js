// Draws the transfer list. Rows are keyed by id and redrawn only when their row object changed
// (the list's functions keep unchanged rows identical), so 200 transfers reporting progress ten
// times a second touch only the rows that moved.

import { actionsFor, totals } from "./transfers.js";
import { formatBytes, formatDuration, formatSpeed, percent } from "./format.js";
import { errorMessage } from "./i18n.js";

/**
 * @typedef {object} ViewContext
 * @property {string} language
 * @property {(key: string, params?: Record<string, unknown>) => string} t
 * @property {(action: string, id: string) => void} onAction
 */

/** Remembers what each row's element last showed. */
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
    /** @type {Map<string, { row: any, element: HTMLLIElement }>} */
    this.drawn = new Map();
    this.language = "";
  }

  /**
   * Brings the page up to date with `list`.
   * @param {import("./transfers.js").TransferList} list
   * @param {ViewContext} context
   */
  render(list, context) {
    const relabel = context.language !== this.language;
    this.language = context.language;
    for (const [id, entry] of this.drawn) {
      if (!list.rows[id]) {
        entry.element.remove();
        this.drawn.delete(id);
      }
    }
    let previous = null;
    for (const id of list.order) {
      const row = list.rows[id];
      let entry = this.drawn.get(id);
      if (!entry) {
        entry = { row: null, element: createRowElement(id, context) };
        this.drawn.set(id, entry);
      }
      if (entry.row !== row || relabel) {
        if (entry.row && entry.row.status !== row.status) {
          this.announcer.textContent = `${row.name}: ${context.t(`status.${row.status}`)}`;
        }
        fillRowElement(entry.element, row, context);
        entry.row = row;
      }
      const expectedPosition = previous ? previous.nextSibling : this.listElement.firstChild;
      if (expectedPosition !== entry.element) {
        this.listElement.insertBefore(entry.element, expectedPosition);
      }
      previous = entry.element;
    }
    const sums = totals(list);
    this.totalsElement.textContent =
      sums.count === 0 ? context.t("totals.empty") : context.t("totals.summary", sums);
  }
}

/**
 * @param {string} id
 * @param {ViewContext} context
 */
function createRowElement(id, context) {
  const item = document.createElement("li");
  item.className = "transfer";
  item.dataset.id = id;
  item.innerHTML = `
    <span class="transfer-name"></span>
    <span class="transfer-status"></span>
    <progress max="100" value="0"></progress>
    <span class="transfer-detail"></span>
    <span class="transfer-actions"></span>`;
  item.querySelector(".transfer-actions").addEventListener("click", (event) => {
    const button = /** @type {HTMLElement} */ (event.target).closest("button[data-action]");
    if (button) context.onAction(button.dataset.action, id);
  });
  return item;
}

const ACTION_LABELS = [
  ["cancel", "action.cancel"],
  ["retry", "action.retry"],
  ["open", "action.open"],
  ["show", "action.showInFolder"],
  ["remove", "action.remove"],
];

/**
 * @param {HTMLLIElement} item
 * @param {import("./transfers.js").Row} row
 * @param {ViewContext} context
 */
function fillRowElement(item, row, context) {
  const { t, language } = context;
  item.dataset.status = row.status;
  const name = /** @type {HTMLElement} */ (item.querySelector(".transfer-name"));
  name.textContent = `${row.name} · ${formatBytes(row.size, language)}`;
  /** @type {HTMLElement} */ (item.querySelector(".transfer-status")).textContent = t(
    `status.${row.status}`,
  );
  const bar = /** @type {HTMLProgressElement} */ (item.querySelector("progress"));
  bar.value = row.status === "ready" ? 100 : percent(row.transferred, row.total);
  bar.setAttribute("aria-label", `${row.name}: ${bar.value}%`);
  /** @type {HTMLElement} */ (item.querySelector(".transfer-detail")).textContent = detail(row, context);

  const allowed = actionsFor(row);
  const actions = /** @type {HTMLElement} */ (item.querySelector(".transfer-actions"));
  const wanted = ACTION_LABELS.filter(([action]) =>
    action === "show" ? allowed.open : allowed[/** @type {keyof typeof allowed} */ (action)],
  );
  actions.replaceChildren(
    ...wanted.map(([action, label]) => {
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.action = action;
      button.textContent = t(label);
      button.setAttribute("aria-label", `${t(label)}: ${row.name}`);
      return button;
    }),
  );
}

/**
 * The line under a row's name: progress figures, a pending retry, or why it failed.
 * @param {import("./transfers.js").Row} row
 * @param {ViewContext} context
 */
export function detail(row, { t, language }) {
  if (row.status === "failed") return errorMessage(row.error, t);
  if (row.retrying) {
    return t("row.retrying", {
      reason: errorMessage({ kind: row.retrying.kind, message: row.retrying.reason }, t),
      delay: formatDuration(row.retrying.delaySeconds, t),
    });
  }
  if (row.status === "processing") return t("row.processing");
  if (row.status === "uploading" || row.status === "downloading") {
    return t("row.progress", {
      done: formatBytes(row.transferred, language),
      total: formatBytes(row.total, language),
      speed: formatSpeed(row.bytesPerSecond, language),
      left: formatDuration(row.etaSeconds, t),
    });
  }
  return "";
}
