// The page's entry point: language, the drop zone, and the list kept in step with the app's
// events. Everything that decides something lives in the tested modules beside this one.

import { applyEvent, emptyList } from "./transfers.js";
import { pickLanguage, translator } from "./i18n.js";
import { ListView } from "./view.js";
import * as backend from "./backend.js";

const state = {
  list: emptyList(),
  language: pickLanguage(null, navigator.languages),
  /** Redraws are batched to one per frame, however many events arrive. */
  frameRequested: false,
};

const view = new ListView(
  /** @type {HTMLElement} */ (document.getElementById("transfers")),
  /** @type {HTMLElement} */ (document.getElementById("totals")),
  /** @type {HTMLElement} */ (document.getElementById("announcer")),
);

function context() {
  const t = translator(state.language);
  return { language: state.language, t, onAction };
}

function scheduleRender() {
  if (state.frameRequested) return;
  state.frameRequested = true;
  requestAnimationFrame(() => {
    state.frameRequested = false;
    view.render(state.list, context());
  });
}

function applyLanguage() {
  const { t } = context();
  document.documentElement.lang = state.language;
  for (const element of document.querySelectorAll("[data-i18n]")) {
    element.textContent = t(/** @type {HTMLElement} */ (element).dataset.i18n ?? "");
  }
  document.title = t("app.title");
  scheduleRender();
}

/** @param {{ type: string, id: string }} event */
function onTransferEvent(event) {
  state.list = applyEvent(state.list, event);
  scheduleRender();
}

/**
 * @param {string} action
 * @param {string} id
 */
function onAction(action, id) {
  backend.runAction(action, id).catch(showError);
}

/** @param {unknown} error */
function showError(error) {
  const announcer = document.getElementById("announcer");
  if (announcer) announcer.textContent = backend.describeError(error, context().t);
}

/** @param {string[]} paths */
function send(paths) {
  if (paths.length > 0) backend.startUploads(paths, onTransferEvent).catch(showError);
}

function setUpDropZone() {
  const zone = /** @type {HTMLElement} */ (document.getElementById("drop-zone"));
  backend.onFileDrop({
    hover: (hovering) => zone.classList.toggle("is-hovering", hovering),
    drop: send,
  });
  const choose = async (folders) => send(await backend.choosePaths(folders));
  document.getElementById("choose-files")?.addEventListener("click", () => choose(false).catch(showError));
  document.getElementById("choose-folder")?.addEventListener("click", () => choose(true).catch(showError));
  zone.addEventListener("keydown", (event) => {
    if (event.target === zone && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      choose(false).catch(showError);
    }
  });
}

async function start() {
  const settings = await backend.loadSettings().catch(() => null);
  state.language = pickLanguage(settings?.language, navigator.languages);
  applyLanguage();
  setUpDropZone();
  for (const event of await backend.restoreTransfers(onTransferEvent).catch(() => [])) {
    onTransferEvent(event);
  }
}

start();
