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
 * Sends files (folders are expanded by the app) and reports their events.
 * @param {string[]} paths
 * @param {(event: any) => void} onEvent
 */
export function startUploads(paths, onEvent) {
  return invoke("start_uploads", { paths, events: channel(onEvent) });
}

/**
 * The list as the app remembers it (it survives restarts), as `added` events, with later events
 * reported to `onEvent`.
 * @param {(event: any) => void} onEvent
 */
export function restoreTransfers(onEvent) {
  return invoke("restore_transfers", { events: channel(onEvent) });
}

const ACTION_COMMANDS = {
  cancel: "cancel_transfer",
  retry: "retry_transfer",
  open: "open_result",
  show: "show_result",
  remove: "remove_transfer",
};

/**
 * @param {string} action one of cancel, retry, open, show, remove
 * @param {string} id
 */
export function runAction(action, id) {
  const command = ACTION_COMMANDS[/** @type {keyof typeof ACTION_COMMANDS} */ (action)];
  if (!command) return Promise.reject(new Error(`unknown action ${action}`));
  return invoke(command, { id });
}

export function loadSettings() {
  return invoke("load_settings");
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
