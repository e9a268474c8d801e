// The page's entry point: language, the views (transfers, results on the server), the first-run
// setup and settings, and the list kept in step with the app's events. Everything that decides
// something lives in the tested modules beside this one.

import { applyEvents, emptyList } from "./transfers.js";
import { actionNamed } from "./actions.js";
import { pickLanguage, translator } from "./i18n.js";
import { ListView } from "./view.js";
import { SettingsForm } from "./settings-form.js";
import { ResultsView } from "./results-view.js";
import { UpdatePanel } from "./updates.js";
import * as backend from "./backend.js";

const state = {
  list: emptyList(),
  language: pickLanguage(null, navigator.languages),
  /** @type {any} the app's settings view */
  settings: null,
  /** Redraws are batched to one per frame, however many events arrive. */
  frameRequested: false,
};

const byId = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

const view = new ListView(byId("transfers"), byId("totals"), byId("announcer"));
const t = () => translator(state.language);
const describe = (/** @type {unknown} */ error) => backend.describeError(error, t());

const settingsForm = new SettingsForm({
  t,
  describe,
  onSaved: (settings) => {
    applySettings(settings);
    announce(t()("settings.saved"));
  },
});
const resultsView = new ResultsView({ t, language: () => state.language, describe, announce });
const updates = new UpdatePanel({ t, language: () => state.language, announce });

function context() {
  return { language: state.language, t: t(), onAction };
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
  const translate = t();
  document.documentElement.lang = state.language;
  for (const element of document.querySelectorAll("[data-i18n]")) {
    element.textContent = translate(/** @type {HTMLElement} */ (element).dataset.i18n ?? "");
  }
  for (const element of document.querySelectorAll("[data-i18n-label]")) {
    element.setAttribute("aria-label", translate(/** @type {HTMLElement} */ (element).dataset.i18nLabel ?? ""));
  }
  document.title = translate("app.title");
  // The page was kept from showing until now (see styles.css), so its first paint is already in
  // the user's language.
  document.documentElement.removeAttribute("data-language-pending");
  resultsView.render();
  updates.render();
  scheduleRender();
}

/** @param {any} settings */
function applySettings(settings) {
  state.settings = settings;
  state.language = pickLanguage(settings?.language, navigator.languages);
  byId("welcome").hidden = Boolean(settings?.configured);
  applyLanguage();
}

/** Opens About: the version, the service in use, the help, and updates. */
async function openAbout() {
  const translate = t();
  const about = await backend.aboutApp().catch(() => null);
  byId("about-version").textContent = about ? `${about.name} · ${translate("about.version", { version: about.version })}` : "";
  byId("about-service").textContent = about?.serviceUrl
    ? translate("about.service", { url: about.serviceUrl })
    : translate("about.noService");
  updates.render();
  /** @type {HTMLDialogElement} */ (byId("about")).showModal();
}

/** @param {string} text */
function announce(text) {
  byId("announcer").textContent = text;
}

/** @param {{ type: string, id: string }[]} events a batch, in order */
function onTransferEvents(events) {
  state.list = applyEvents(state.list, events);
  scheduleRender();
}

/**
 * Calls the command of a row's button (its `data-action`) with the row's id.
 * @param {string} name
 * @param {string} id
 */
function onAction(name, id) {
  const action = actionNamed(name);
  if (!action) {
    showError(new Error(`unknown action ${name}`));
    return;
  }
  backend[action.command](id).catch(showError);
}

/** @param {unknown} error */
function showError(error) {
  announce(describe(error));
  if (error && typeof error === "object" && /** @type {any} */ (error).kind === "not_configured") {
    settingsForm.open(state.settings);
  }
}

/** @param {string[]} paths */
function send(paths) {
  if (paths.length > 0) backend.startUploads(paths).catch(showError);
}

/** The lists draw only the rows in view, so they follow scrolling and the window's size. */
function followView() {
  const onScroll = () => {
    if (byId("results-view").hidden) scheduleRender();
    else resultsView.scheduleRender();
  };
  window.addEventListener("scroll", onScroll, { passive: true });
  window.addEventListener("resize", () => {
    view.remeasure();
    resultsView.remeasure();
    scheduleRender();
    resultsView.scheduleRender();
  });
}

function setUpDropZone() {
  const zone = byId("drop-zone");
  backend.onFileDrop({
    hover: (hovering) => zone.classList.toggle("is-hovering", hovering),
    drop: send,
  });
  const choose = async (/** @type {boolean} */ folders) => send(await backend.choosePaths(folders));
  byId("choose-files").addEventListener("click", () => choose(false).catch(showError));
  byId("choose-folder").addEventListener("click", () => choose(true).catch(showError));
  zone.addEventListener("keydown", (event) => {
    if (event.target === zone && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      choose(false).catch(showError);
    }
  });
}

/** Shows the view named by the address's hash: `#results`, else the transfers. */
function route() {
  const results = location.hash === "#results";
  byId("transfers-view").hidden = results;
  byId("results-view").hidden = !results;
  byId("nav-transfers").toggleAttribute("aria-current", !results);
  byId("nav-results").toggleAttribute("aria-current", results);
  if (results) {
    byId("nav-results").setAttribute("aria-current", "page");
    resultsView.load();
  } else {
    byId("nav-transfers").setAttribute("aria-current", "page");
    // The list draws what is in view, which it could not see while hidden.
    scheduleRender();
  }
}

async function start() {
  applySettings(await backend.loadSettings().catch(() => null));
  setUpDropZone();
  followView();
  const openSettings = () => settingsForm.open(state.settings);
  byId("open-settings").addEventListener("click", openSettings);
  byId("welcome-setup").addEventListener("click", openSettings);
  byId("open-about").addEventListener("click", () => openAbout().catch(showError));
  byId("about-help").addEventListener("click", () => backend.openHelp().catch(showError));
  window.addEventListener("hashchange", route);
  route();
  onTransferEvents(await backend.restoreTransfers(onTransferEvents).catch(() => []));
  document.body.dataset.ready = "true";
  // Looked for once the window is usable; only news worth acting on is shown.
  updates.check(true);
}

start();
