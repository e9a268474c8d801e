// What the user can do with a transfer row, as one table: each action's name (the button's
// `data-action`), its label (an i18n key), when a row allows it, and the backend function it
// calls with the row's id. The view draws a row's buttons from it, in its order; the app finds the
// function to call from it when one is clicked. Pure data and predicates, tested without a window.

import { Status, isActive, isPausable } from "./transfers.js";

/**
 * @typedef {object} RowAction
 * @property {string} name the button's `data-action`
 * @property {string} label the i18n key of its text
 * @property {(row: import("./transfers.js").Row) => boolean} allowed whether a row offers it now
 * @property {"pauseTransfer" | "resumeTransfer" | "cancelTransfer" | "retryTransfer" | "openResult" | "showResult" | "removeTransfer"} command
 *   the function of `backend.js` it calls, with the row's id
 */

/** @param {import("./transfers.js").Row} row */
const hasResult = (row) => row.status === Status.Ready && row.resultPath != null;

/** Every row action, in the order its buttons are shown. @type {readonly RowAction[]} */
export const ROW_ACTIONS = Object.freeze([
  { name: "pause", label: "action.pause", allowed: (row) => isPausable(row.status), command: "pauseTransfer" },
  { name: "resume", label: "action.resume", allowed: (row) => row.status === Status.Paused, command: "resumeTransfer" },
  {
    name: "cancel",
    label: "action.cancel",
    allowed: (row) => isActive(row.status) || row.status === Status.Paused,
    command: "cancelTransfer",
  },
  {
    name: "retry",
    label: "action.retry",
    allowed: (row) => row.status === Status.Failed || row.status === Status.Cancelled,
    command: "retryTransfer",
  },
  { name: "open", label: "action.open", allowed: hasResult, command: "openResult" },
  { name: "show", label: "action.showInFolder", allowed: hasResult, command: "showResult" },
  { name: "remove", label: "action.remove", allowed: (row) => !isActive(row.status), command: "removeTransfer" },
]);

/**
 * The actions a row offers now, in the order they are shown.
 * @param {import("./transfers.js").Row} row
 * @returns {RowAction[]}
 */
export function actionsFor(row) {
  return ROW_ACTIONS.filter((action) => action.allowed(row));
}

/**
 * The action of that name, if there is one.
 * @param {string} name
 * @returns {RowAction | undefined}
 */
export function actionNamed(name) {
  return ROW_ACTIONS.find((action) => action.name === name);
}
