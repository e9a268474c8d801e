// The only module that talks to the app's Rust side (through Tauri's global API, which the shell
// exposes to this page). Commands are named verb_noun; progress arrives on a Channel per call.

import { errorMessage } from "./i18n.js";

function tauri() {
  const api = /** @type {any} */ (window).__TAURI__;
  if (!api) throw new Error("The app's backend is not available.");
  return api;
}

/**
 * @param {string} command
 * @param {Record<string, unknown>} [args]
 */
function invoke(command, args) {
  return tauri().core.invoke(command, args);
}

/**
 * A Channel that passes each message to `onEvent`.
 * @param {(event: any) => void} onEvent
 */
function channel(onEvent) {
  const events = new (tauri().core.Channel)();
  events.onmessage = onEvent;
  return events;
}

/**
 * Sends files (folders are expanded by the app). Their rows and progress arrive on the channel
 * given to {@link restoreTransfers}.
 * @param {string[]} paths
 */
export function startUploads(paths) {
  return invoke("start_uploads", { paths });
}

/**
 * The list as the app remembers it (it survives restarts), as `added` events; every later change
 * of any row is reported to `onEvents`, in batches (arrays, in order), through one channel for
 * the page's lifetime.
 * @param {(events: any[]) => void} onEvents
 * @returns {Promise<any[]>}
 */
export function restoreTransfers(onEvents) {
  return invoke("restore_transfers", { events: channel(onEvents) });
}

// The row actions' commands (`actions.js` says which row offers which); each takes the row's id.

/** Pauses a transfer; the app keeps what it sent or received. @param {string} id */
export function pauseTransfer(id) {
  return invoke("pause_transfer", { id });
}

/** Goes on with a paused transfer from where it stopped. @param {string} id */
export function resumeTransfer(id) {
  return invoke("resume_transfer", { id });
}

/** Stops a transfer for good (a paused one too). @param {string} id */
export function cancelTransfer(id) {
  return invoke("cancel_transfer", { id });
}

/** Sends a failed or cancelled transfer again. @param {string} id */
export function retryTransfer(id) {
  return invoke("retry_transfer", { id });
}

/** Opens a transfer's result with the system's app for it. @param {string} id */
export function openResult(id) {
  return invoke("open_result", { id });
}

/** Shows a transfer's result in the file manager. @param {string} id */
export function showResult(id) {
  return invoke("show_result", { id });
}

/** Takes a finished or paused transfer off the list. @param {string} id */
export function removeTransfer(id) {
  return invoke("remove_transfer", { id });
}

/** The settings as in effect (the token itself never reaches the page). */
export function loadSettings() {
  return invoke("load_settings");
}

/**
 * Saves the settings; `token` only when the user typed a new one.
 * @param {{ apiUrl: string, resultsDir: string | null, language: string, token: string | null }} update
 */
export function saveSettings(update) {
  return invoke("save_settings", { update });
}

/**
 * Checks an address and token against the service; an empty token tests the saved one.
 * @param {string} apiUrl
 * @param {string} token
 */
export function testConnection(apiUrl, token) {
  return invoke("test_connection", { apiUrl, token: token || null });
}

/** Asks the user for the results folder; null when they cancelled. */
export function chooseResultsFolder() {
  return invoke("choose_results_folder");
}

/**
 * One page of the user's results on the server, in the service's order (by name).
 * @param {string | null} cursor `null` for the first page, else the previous page's `nextCursor`
 * @returns {Promise<{ results: { name: string, size: number, lastModified: string }[], nextCursor: string | null }>}
 */
export function listResults(cursor) {
  return invoke("list_results", { cursor });
}

/**
 * Fetches a result into the results folder, as a row of the transfer list.
 * @param {string} name
 * @param {number} size
 */
export function downloadResult(name, size) {
  return invoke("download_result", { name, size });
}

/**
 * Asks the user for files (or folders).
 * @param {boolean} folders
 * @returns {Promise<string[]>}
 */
export async function choosePaths(folders) {
  const picked = await invoke("choose_paths", { folders });
  return Array.isArray(picked) ? picked : [];
}

/**
 * Native drag and drop, with real paths.
 * @param {{ hover: (hovering: boolean) => void, drop: (paths: string[]) => void }} handlers
 */
export function onFileDrop(handlers) {
  const webview = tauri().webview.getCurrentWebview();
  return webview.onDragDropEvent((event) => {
    const { type, paths } = event.payload;
    if (type === "enter" || type === "over") handlers.hover(true);
    else if (type === "leave") handlers.hover(false);
    else if (type === "drop") {
      handlers.hover(false);
      handlers.drop(paths ?? []);
    }
  });
}

/** The app's name, version and the service address in use. */
export function aboutApp() {
  return invoke("about_app");
}

/** Opens the help in the user's browser. */
export function openHelp() {
  return invoke("open_help");
}

/**
 * Looks for a newer version.
 * @returns {Promise<{ state: "notConfigured" | "upToDate" | "available" | "installed", version?: string, notes?: string | null }>}
 */
export function checkUpdate() {
  return invoke("check_update");
}

/**
 * Installs the update the last check found, once no transfer moves; `onPhase` hears what it is
 * doing (`waitingForTransfers`, `downloading` with `done`/`total`, `installing`).
 * @param {(phase: any) => void} onPhase
 */
export function installUpdate(onPhase) {
  return invoke("install_update", { events: channel(onPhase) });
}

/** Restarts into the installed update (refused while transfers move). */
export function restartApp() {
  return invoke("restart_app");
}

/**
 * A command's error (`{ kind, message }`) in plain words.
 * @param {unknown} error
 * @param {(key: string, params?: Record<string, unknown>) => string} t
 */
export function describeError(error, t) {
  if (error && typeof error === "object" && "kind" in error) {
    return errorMessage(/** @type {any} */ (error), t);
  }
  return t("error.unknown");
}
