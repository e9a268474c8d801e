// The settings dialog (also the first-run setup): fills the form from the app's settings, tests
// the connection, saves. The token field is write-only: the page is told whether a token is saved,
// never the token.

import * as backend from "./backend.js";

/**
 * What to save, from the form's values.
 * @param {{ apiUrl: string, token: string, resultsDir: string, language: string }} values
 */
export function settingsUpdate(values) {
  const token = values.token.trim();
  return {
    apiUrl: values.apiUrl.trim(),
    resultsDir: values.resultsDir.trim() || null,
    language: values.language,
    token: token === "" ? null : token,
  };
}

export class SettingsForm {
  /**
   * @param {{ t: () => (key: string, params?: Record<string, unknown>) => string,
   *           describe: (error: unknown) => string,
   *           onSaved: (settings: any) => void }} hooks
   */
  constructor(hooks) {
    this.hooks = hooks;
    this.dialog = /** @type {HTMLDialogElement} */ (document.getElementById("settings"));
    this.form = /** @type {HTMLFormElement} */ (document.getElementById("settings-form"));
    this.apiUrl = /** @type {HTMLInputElement} */ (document.getElementById("api-url"));
    this.token = /** @type {HTMLInputElement} */ (document.getElementById("token"));
    this.resultsDir = /** @type {HTMLInputElement} */ (document.getElementById("results-dir"));
    this.language = /** @type {HTMLSelectElement} */ (document.getElementById("language"));
    this.status = /** @type {HTMLElement} */ (document.getElementById("settings-status"));
    this.settings = null;

    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.save();
    });
    document.getElementById("settings-cancel")?.addEventListener("click", () => this.dialog.close());
    document.getElementById("test-connection")?.addEventListener("click", () => this.test());
    document.getElementById("choose-results-dir")?.addEventListener("click", async () => {
      const folder = await backend.chooseResultsFolder().catch(() => null);
      if (folder) this.resultsDir.value = folder;
    });
  }

  /** @param {any} settings the app's settings view */
  open(settings) {
    this.settings = settings;
    const t = this.hooks.t();
    this.apiUrl.value = settings?.apiUrl ?? "";
    this.apiUrl.readOnly = Boolean(settings?.apiUrlFromEnvironment);
    this.token.value = "";
    this.token.readOnly = Boolean(settings?.tokenFromEnvironment);
    this.resultsDir.value = settings?.resultsDir ?? "";
    this.language.value = settings?.language ?? "";
    setText(
      "api-url-note",
      settings?.apiUrlProblem
        ? this.hooks.describe(settings.apiUrlProblem)
        : settings?.apiUrlFromEnvironment
          ? t("settings.fromEnvironment")
          : t("settings.apiUrlHint"),
    );
    setText(
      "token-note",
      settings?.tokenFromEnvironment
        ? t("settings.fromEnvironment")
        : settings?.hasToken
          ? t("settings.tokenSaved")
          : t("settings.tokenMissing"),
    );
    this.showStatus("", "");
    if (!this.dialog.open) this.dialog.showModal();
    (this.apiUrl.readOnly ? this.language : this.apiUrl).focus();
  }

  values() {
    return settingsUpdate({
      apiUrl: this.apiUrl.value,
      token: this.token.readOnly ? "" : this.token.value,
      resultsDir: this.resultsDir.value,
      language: this.language.value,
    });
  }

  async test() {
    const t = this.hooks.t();
    const update = this.values();
    this.showStatus(t("settings.testing"), "");
    try {
      await backend.testConnection(update.apiUrl, update.token ?? "");
      this.showStatus(t("settings.testOk"), "is-ok");
    } catch (error) {
      this.showStatus(this.hooks.describe(error), "is-error");
    }
  }

  async save() {
    try {
      const settings = await backend.saveSettings(this.values());
      this.token.value = "";
      this.dialog.close();
      this.hooks.onSaved(settings);
    } catch (error) {
      this.showStatus(this.hooks.describe(error), "is-error");
    }
  }

  /**
   * @param {string} text
   * @param {string} className
   */
  showStatus(text, className) {
    this.status.textContent = text;
    this.status.className = `settings-status ${className}`.trim();
  }
}

/**
 * @param {string} id
 * @param {string} text
 */
function setText(id, text) {
  const element = document.getElementById(id);
  if (element) element.textContent = text;
}
