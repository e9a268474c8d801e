// The results view: the user's results on the server (also those of files sent elsewhere or
// before a reinstall), each downloadable into the results folder through the transfer list. The
// app answers one page at a time; the next page is asked for as the user scrolls near the end, and
// only the rows in view are drawn (the same windowed list as the transfers), so a folder of
// thousands of results costs the page no more than a screenful.

import * as backend from "./backend.js";
import { formatBytes } from "./format.js";
import { addPage, nextRequest, noPages, wantsMore } from "./results-pages.js";
import { WindowedList } from "./view.js";

/** Ask for the next page once the rows drawn come this close to the end of those loaded. */
const MORE_MARGIN = 40;

/** @type {import("./results-pages.js").Result} a typical row, to measure the rows' height */
const SAMPLE_RESULT = { name: "sample.pdf", size: 1_000_000, lastModified: "2026-01-01T00:00:00Z" };

export class ResultsView {
  /**
   * @param {{ t: () => (key: string, params?: Record<string, unknown>) => string,
   *           language: () => string,
   *           describe: (error: unknown) => string,
   *           announce: (text: string) => void }} hooks
   */
  constructor(hooks) {
    this.hooks = hooks;
    this.list = /** @type {HTMLElement} */ (document.getElementById("results"));
    this.status = /** @type {HTMLElement} */ (document.getElementById("results-status"));
    this.pages = noPages();
    /** @type {Map<string, import("./results-pages.js").Result>} */
    this.byName = new Map();
    /** Whether anything was loaded since the view was last (re)loaded. */
    this.loaded = false;
    this.loading = false;
    /** Bumped by every reload, so the answer to an older request is dropped. */
    this.generation = 0;
    /** @type {unknown} why the last page could not be loaded */
    this.error = null;
    this.frameRequested = false;
    /** @type {WindowedList<import("./results-pages.js").Result>} */
    this.window = new WindowedList(this.list, {
      createRow: createResultElement,
      fillRow: (element, result, context) => fillResultElement(element, result, context),
      sampleRow: SAMPLE_RESULT,
    });
    document.getElementById("results-refresh")?.addEventListener("click", () => this.load());
    this.list.addEventListener("click", (event) => {
      const button = /** @type {HTMLElement} */ (event.target).closest("button[data-action=\"download\"]");
      const item = /** @type {HTMLElement | null} */ (button?.closest("li[data-id]") ?? null);
      const result = item ? this.byName.get(item.dataset.id ?? "") : undefined;
      if (result) this.download(result);
    });
  }

  /** Loads the list again from its first page. */
  load() {
    this.generation += 1;
    this.pages = noPages();
    this.byName = new Map();
    this.loaded = false;
    this.loading = false;
    this.error = null;
    this.list.replaceChildren();
    this.window = new WindowedList(this.list, this.window.rows);
    this.status.textContent = this.hooks.t()("results.loading");
    this.loadMore();
  }

  /** Asks for the next page, unless one is on its way or there is none. */
  async loadMore() {
    const cursor = nextRequest(this.pages);
    if (this.loading || cursor === undefined || this.error) return;
    this.loading = true;
    const generation = this.generation;
    try {
      const page = await backend.listResults(cursor);
      if (generation !== this.generation) return;
      this.pages = addPage(this.pages, page);
      for (const result of this.pages.results.slice(this.byName.size)) this.byName.set(result.name, result);
      this.loaded = true;
    } catch (error) {
      if (generation !== this.generation) return;
      this.error = error;
    } finally {
      if (generation === this.generation) this.loading = false;
    }
    this.render();
  }

  /** Redraws at the next frame (the page scrolled or the window changed size). */
  scheduleRender() {
    if (this.frameRequested) return;
    this.frameRequested = true;
    requestAnimationFrame(() => {
      this.frameRequested = false;
      this.render();
    });
  }

  /** Forget the row height, e.g. after the window or its text size changed. */
  remeasure() {
    this.window.remeasure();
  }

  render() {
    const t = this.hooks.t();
    const count = this.pages.results.length;
    if (this.error) {
      // What was loaded stays; the status says why no more came (Refresh starts again).
      this.status.textContent = this.hooks.describe(this.error);
    } else if (this.loaded) {
      this.status.textContent =
        count === 0 ? t("results.empty") : t(this.pages.done ? "results.count" : "results.countMore", { count });
    }
    if (!this.loaded) return;
    const order = this.pages.results.map((result) => result.name);
    const context = { language: this.hooks.language(), t };
    const drawn = this.window.render(order, (name) => /** @type {any} */ (this.byName.get(name)), context);
    if (this.window.isShown() && wantsMore(this.pages, drawn.end, MORE_MARGIN)) this.loadMore();
  }

  /** @param {import("./results-pages.js").Result} result */
  async download(result) {
    const t = this.hooks.t();
    try {
      await backend.downloadResult(result.name, result.size);
      this.hooks.announce(t("results.added", { name: result.name }));
    } catch (error) {
      this.hooks.announce(this.hooks.describe(error));
    }
  }
}

/** @param {string} name */
function createResultElement(name) {
  const item = document.createElement("li");
  item.className = "transfer";
  item.dataset.id = name;
  item.innerHTML = `
    <span class="transfer-name"></span>
    <span class="transfer-actions"><button type="button" data-action="download"></button></span>
    <span class="transfer-detail"></span>`;
  return item;
}

/**
 * @param {HTMLLIElement} item
 * @param {import("./results-pages.js").Result} result
 * @param {{ language: string, t: (key: string, params?: Record<string, unknown>) => string }} context
 */
function fillResultElement(item, result, { language, t }) {
  const name = /** @type {HTMLElement} */ (item.querySelector(".transfer-name"));
  name.textContent = `${result.name} · ${formatBytes(result.size)}`;
  name.title = result.name;
  /** @type {HTMLElement} */ (item.querySelector(".transfer-detail")).textContent = new Date(
    result.lastModified,
  ).toLocaleString(language);
  const button = /** @type {HTMLElement} */ (item.querySelector("button"));
  button.textContent = t("results.download");
  button.setAttribute("aria-label", `${t("results.download")}: ${result.name}`);
}
