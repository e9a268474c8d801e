// Updates as the user sees them: what the last check found, what an install is doing, and which
// buttons make sense now. `updateView` is pure (tested by Node); `UpdatePanel` draws it in the
// banner above the list and in the About dialog, which always say the same thing.

import * as backend from "./backend.js";
import { errorMessage } from "./i18n.js";

/**
 * @typedef {{ state: "notConfigured" | "upToDate" | "available" | "installed", version?: string, notes?: string | null }} UpdateCheck
 * @typedef {{ phase: "waitingForTransfers" | "installing" } | { phase: "downloading", done: number, total: number | null }} InstallPhase
 * @typedef {{ check: UpdateCheck | null, phase: InstallPhase | null, error: any, checking: boolean, dismissed: boolean }} UpdateState
 */

/** @returns {UpdateState} */
export function emptyUpdateState() {
  return { check: null, phase: null, error: null, checking: false, dismissed: false };
}

/**
 * What to show for `state`: the sentence, which buttons are offered, and whether the banner shows
 * (only for news the user should act on: an update to install, one being installed, a restart to
 * do, or a failed install; not for "up to date" or a quiet check that failed).
 * @param {UpdateState} state
 * @param {(key: string, params?: Record<string, unknown>) => string} t
 * @param {string} language
 */
export function updateView(state, t, language) {
  const { check, phase, error, checking } = state;
  let text = "";
  let banner = false;
  if (phase) {
    banner = true;
    if (phase.phase === "waitingForTransfers") text = t("update.waiting");
    else if (phase.phase === "installing") text = t("update.installing");
    else {
      const percent =
        phase.total && phase.total > 0
          ? new Intl.NumberFormat(language, { style: "percent" }).format(Math.min(1, phase.done / phase.total))
          : "";
      text = t("update.downloading", { percent }).trim();
    }
  } else if (checking) {
    text = t("update.checking");
  } else if (error) {
    text = errorMessage(error, t);
    banner = Boolean(error.duringInstall);
  } else if (check?.state === "available") {
    text = t("update.available", { version: check.version ?? "" });
    banner = true;
  } else if (check?.state === "installed") {
    text = t("update.installed", { version: check.version ?? "" });
    banner = true;
  } else if (check?.state === "upToDate") {
    text = t("update.upToDate");
  } else if (check?.state === "notConfigured") {
    text = t("update.notConfigured");
  }
  const idle = !phase && !checking;
  return {
    text,
    banner: banner && !state.dismissed,
    canCheck: idle && check?.state !== "notConfigured" && check?.state !== "installed",
    canInstall: idle && check?.state === "available",
    canRestart: idle && check?.state === "installed",
  };
}

export class UpdatePanel {
  /**
   * @param {{ t: () => (key: string, params?: Record<string, unknown>) => string,
   *           language: () => string,
   *           announce: (text: string) => void }} hooks
   */
  constructor(hooks) {
    this.hooks = hooks;
    this.state = emptyUpdateState();
    const byId = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
    this.banner = byId("update-banner");
    this.bannerText = byId("update-banner-text");
    this.aboutText = byId("about-update-status");
    this.checkButtons = [byId("update-check")];
    this.installButtons = [byId("update-install"), byId("update-banner-install")];
    this.restartButtons = [byId("update-restart"), byId("update-banner-restart")];
    for (const button of this.checkButtons) button.addEventListener("click", () => this.check(false));
    for (const button of this.installButtons) button.addEventListener("click", () => this.install());
    for (const button of this.restartButtons) button.addEventListener("click", () => this.restart());
    byId("update-banner-later").addEventListener("click", () => this.set({ dismissed: true }));
  }

  /** @param {Partial<UpdateState>} change */
  set(change) {
    this.state = { ...this.state, ...change };
    this.render();
  }

  render() {
    const view = updateView(this.state, this.hooks.t(), this.hooks.language());
    this.bannerText.textContent = view.text;
    this.aboutText.textContent = view.text;
    this.banner.hidden = !view.banner;
    for (const button of this.checkButtons) button.hidden = !view.canCheck;
    for (const button of this.installButtons) button.hidden = !view.canInstall;
    for (const button of this.restartButtons) button.hidden = !view.canRestart;
  }

  /**
   * Looks for an update. A quiet check (at start) shows nothing unless there is one.
   * @param {boolean} quiet
   */
  async check(quiet) {
    this.set({ checking: !quiet, error: null, dismissed: false });
    try {
      const check = await backend.checkUpdate();
      this.set({ check, checking: false });
    } catch (error) {
      this.set({ checking: false, error: quiet ? null : error });
    }
  }

  async install() {
    this.set({ error: null, dismissed: false, phase: { phase: "downloading", done: 0, total: null } });
    try {
      const check = await backend.installUpdate((/** @type {InstallPhase} */ phase) => this.set({ phase }));
      this.set({ check, phase: null });
      this.hooks.announce(this.bannerText.textContent ?? "");
    } catch (error) {
      this.set({ phase: null, error: { ...(/** @type {any} */ (error) ?? {}), duringInstall: true } });
      this.hooks.announce(this.bannerText.textContent ?? "");
    }
  }

  async restart() {
    try {
      await backend.restartApp();
    } catch (error) {
      this.set({ error: { ...(/** @type {any} */ (error) ?? {}), duringInstall: true } });
    }
  }
}
