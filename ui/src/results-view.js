// The results view: the user's results on the server (also those of files sent elsewhere or
// before a reinstall), each downloadable into the results folder through the transfer list.

import * as backend from "./backend.js";
import { formatBytes } from "./format.js";

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
    /** @type {any[] | null} */
    this.results = null;
    document.getElementById("results-refresh")?.addEventListener("click", () => this.load());
  }

  async load() {
    const t = this.hooks.t();
    this.status.textContent = t("results.loading");
    try {
      this.results = await backend.listResults();
      this.render();
    } catch (error) {
      this.results = null;
      this.list.replaceChildren();
      this.status.textContent = this.hooks.describe(error);
    }
  }

  render() {
    if (!this.results) return;
    const t = this.hooks.t();
    const language = this.hooks.language();
    this.status.textContent =
      this.results.length === 0 ? t("results.empty") : t("results.count", { count: this.results.length });
    this.list.replaceChildren(
      ...this.results.map((result) => {
        const item = document.createElement("li");
        item.className = "transfer";
        const name = document.createElement("span");
        name.className = "transfer-name";
        name.textContent = `${result.name} · ${formatBytes(result.size)}`;
        const when = document.createElement("span");
        when.className = "transfer-detail";
        when.textContent = new Date(result.lastModified).toLocaleString(language);
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = t("results.download");
        button.setAttribute("aria-label", `${t("results.download")}: ${result.name}`);
        button.addEventListener("click", async () => {
          try {
            await backend.downloadResult(result.name, result.size);
            this.hooks.announce(t("results.added", { name: result.name }));
          } catch (error) {
            this.hooks.announce(this.hooks.describe(error));
          }
        });
        const actions = document.createElement("span");
        actions.className = "transfer-actions";
        actions.append(button);
        item.append(name, actions, when);
        return item;
      }),
    );
  }
}
