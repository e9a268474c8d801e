// The transfer list as data: rows and the events that move them from status to status. Pure
// functions only, so the list's behaviour is tested without a window, and the view just draws
// whatever state these functions return.
//
// A file's journey: waiting → uploading → processing (the service works on it; the app waits for
// the result) → downloading → ready. Any active status can end in failed or cancelled; a failed
// or cancelled row can be retried, which puts it back to waiting. A waiting or moving row can be
// paused (the app keeps what it sent or received, also across a restart) and resumed, which puts
// it back to waiting (or, once uploaded, processing) and then goes on from there; a paused row can
// also be cancelled. A transfer that goes on from an earlier attempt says so ("resuming") until
// its progress moves past what it kept; one that could not use what it kept says why.

/** The statuses a row can have. */
export const Status = Object.freeze({
  Waiting: "waiting",
  Uploading: "uploading",
  Processing: "processing",
  Downloading: "downloading",
  Ready: "ready",
  Failed: "failed",
  Cancelled: "cancelled",
  Paused: "paused",
});

const ACTIVE = new Set([Status.Waiting, Status.Uploading, Status.Processing, Status.Downloading]);
const MOVING = new Set([Status.Uploading, Status.Downloading]);
/** Rows the user can pause: waiting for their turn or moving bytes. */
const PAUSABLE = new Set([Status.Waiting, Status.Uploading, Status.Downloading]);

/**
 * @typedef {object} Row
 * @property {string} id
 * @property {string} name the file's name, as shown
 * @property {number} size bytes
 * @property {string} status one of {@link Status}
 * @property {number} transferred bytes moved in the current phase
 * @property {number} total bytes of the current phase
 * @property {number | null} bytesPerSecond
 * @property {number | null} etaSeconds
 * @property {{ kind: string, message: string } | null} error why it failed
 * @property {{ kind: string, reason: string, delaySeconds: number } | null} retrying a pending automatic retry
 * @property {{ alreadySent: number, total: number } | null} resuming what the transfer kept from an
 *   earlier attempt, until its progress moves past it
 * @property {string | null} startedOver why the transfer could not use what it kept and started
 *   again (`fileChanged`, `expired`, `recordDamaged`), for the rest of its phase
 * @property {string | null} resultPath where the result was saved, once ready
 */

/** @typedef {{ order: string[], rows: Record<string, Row> }} TransferList */

/** An empty list. @returns {TransferList} */
export function emptyList() {
  return { order: [], rows: {} };
}

/**
 * Applies one event from the app to the list and returns the new list; the old one is left as
 * it was. Events for unknown rows, and events that make no sense in a row's status (progress
 * after it was cancelled, say, which can arrive late), are ignored.
 * @param {TransferList} list
 * @param {{ type: string, id: string, [key: string]: any }} event
 * @returns {TransferList}
 */
export function applyEvent(list, event) {
  return applyEvents(list, [event]);
}

/**
 * Applies a batch of events in order, as {@link applyEvent} would one by one, but copying the
 * list once for the batch rather than once per event: 200 files added at once cost one copy.
 * Rows that no event changed stay identical (the view redraws only rows that changed).
 * @param {TransferList} list
 * @param {{ type: string, id: string, [key: string]: any }[]} events
 * @returns {TransferList}
 */
export function applyEvents(list, events) {
  let { order, rows } = list;
  let ownOrder = false;
  let ownRows = false;
  const writableRows = () => {
    if (!ownRows) {
      rows = { ...rows };
      ownRows = true;
    }
    return rows;
  };
  for (const event of events) {
    if (event.type === "added") {
      if (rows[event.id]) continue;
      if (!ownOrder) {
        order = [...order];
        ownOrder = true;
      }
      order.push(event.id);
      writableRows()[event.id] = newRow(event);
    } else if (event.type === "removed") {
      if (!rows[event.id]) continue;
      delete writableRows()[event.id];
      order = order.filter((id) => id !== event.id);
      ownOrder = true;
    } else {
      const row = rows[event.id];
      if (!row) continue;
      const next = nextRow(row, event);
      if (next !== row) writableRows()[event.id] = next;
    }
  }
  return order === list.order && rows === list.rows ? list : { order, rows };
}

/**
 * A new row from an `added` event.
 * @param {{ id: string, [key: string]: any }} event
 * @returns {Row}
 */
function newRow(event) {
  return {
    id: event.id,
    name: event.name,
    size: event.size ?? 0,
    status: event.status ?? Status.Waiting,
    transferred: 0,
    total: event.size ?? 0,
    bytesPerSecond: null,
    etaSeconds: null,
    error: event.error ?? null,
    retrying: null,
    resuming: null,
    startedOver: null,
    resultPath: event.resultPath ?? null,
  };
}

/** What a row in motion no longer says once it stops moving. */
const STILL = Object.freeze({ bytesPerSecond: null, etaSeconds: null, retrying: null, resuming: null, startedOver: null });

/**
 * @param {Row} row
 * @param {{ type: string, [key: string]: any }} event
 * @returns {Row}
 */
function nextRow(row, event) {
  switch (event.type) {
    case "uploading":
    case "downloading": {
      if (!ACTIVE.has(row.status)) return row;
      const uploading = event.type === "uploading";
      return {
        ...row,
        status: uploading ? Status.Uploading : Status.Downloading,
        // The file may have changed since it was added; a result's size is not the file's.
        size: uploading ? (event.total ?? row.size) : row.size,
        transferred: 0,
        total: event.total ?? row.size,
        ...STILL,
      };
    }
    case "progress": {
      if (!MOVING.has(row.status)) return row;
      const resuming = row.resuming && event.transferred <= row.resuming.alreadySent ? row.resuming : null;
      return {
        ...row,
        transferred: event.transferred,
        total: event.total,
        bytesPerSecond: event.bytesPerSecond ?? null,
        etaSeconds: event.etaSeconds ?? null,
        retrying: null,
        resuming,
      };
    }
    case "resumed":
      if (!MOVING.has(row.status)) return row;
      return {
        ...row,
        transferred: event.alreadySent,
        total: event.total ?? row.total,
        resuming: { alreadySent: event.alreadySent, total: event.total ?? row.total },
        startedOver: null,
      };
    case "startedOver":
      if (!MOVING.has(row.status)) return row;
      return { ...row, transferred: 0, resuming: null, startedOver: event.reason ?? "" };
    case "processing":
      if (!ACTIVE.has(row.status)) return row;
      return { ...row, status: Status.Processing, ...STILL };
    case "retrying":
      if (!ACTIVE.has(row.status)) return row;
      return {
        ...row,
        retrying: { kind: event.kind ?? "", reason: event.reason, delaySeconds: event.delaySeconds },
      };
    case "ready":
      if (!ACTIVE.has(row.status)) return row;
      return {
        ...row,
        status: Status.Ready,
        transferred: row.total,
        ...STILL,
        resultPath: event.resultPath ?? null,
      };
    case "failed":
      if (!ACTIVE.has(row.status)) return row;
      return { ...row, status: Status.Failed, error: event.error, ...STILL };
    case "cancelled":
      if (!ACTIVE.has(row.status) && row.status !== Status.Paused) return row;
      return { ...row, status: Status.Cancelled, ...STILL };
    case "paused":
      if (!PAUSABLE.has(row.status)) return row;
      // The bar keeps what was moved, as the app keeps it for Resume.
      return { ...row, status: Status.Paused, ...STILL };
    case "unpaused":
      if (row.status !== Status.Paused) return row;
      return { ...row, status: Status.Waiting };
    case "retried":
      if (row.status !== Status.Failed && row.status !== Status.Cancelled) return row;
      return { ...row, status: Status.Waiting, error: null, transferred: 0, total: row.size };
    default:
      return row;
  }
}

/**
 * Whether a row in this status is still on its way (waiting, moving bytes or processing), so it
 * can be cancelled but not removed; what a row offers is in `actions.js`. A paused row is not:
 * nothing of it moves until the user resumes it.
 * @param {string} status
 */
export function isActive(status) {
  return ACTIVE.has(status);
}

/**
 * Whether a row in this status can be paused: it waits for its turn or moves bytes.
 * @param {string} status
 */
export function isPausable(status) {
  return PAUSABLE.has(status);
}

/**
 * The figures at the top of the list.
 * @param {TransferList} list
 */
export function totals(list) {
  let ready = 0;
  let failed = 0;
  let active = 0;
  let bytesPerSecond = 0;
  let bytes = 0;
  for (const id of list.order) {
    const row = list.rows[id];
    bytes += row.size;
    if (row.status === Status.Ready) ready += 1;
    else if (row.status === Status.Failed) failed += 1;
    else if (ACTIVE.has(row.status)) active += 1;
    if (MOVING.has(row.status)) bytesPerSecond += row.bytesPerSecond ?? 0;
  }
  return { count: list.order.length, ready, failed, active, bytes, bytesPerSecond };
}
