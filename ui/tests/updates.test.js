import { test } from "node:test";
import assert from "node:assert/strict";

import { emptyUpdateState, updateView } from "../src/updates.js";
import { translator } from "../src/i18n.js";

const en = translator("en");
const ko = translator("ko");
const view = (change, t = en, language = "en") => updateView({ ...emptyUpdateState(), ...change }, t, language);

test("a quiet start shows nothing until a check found something", () => {
  assert.deepEqual(view({}), { text: "", banner: false, canCheck: true, canInstall: false, canRestart: false });
  assert.equal(view({ check: { state: "upToDate" } }).banner, false);
  assert.equal(view({ check: { state: "upToDate" } }).text, "You have the newest version.");
});

test("an available update is offered in the banner, in the user's language", () => {
  const available = { check: { state: "available", version: "1.4.0" } };
  assert.deepEqual(view(available), {
    text: "Version 1.4.0 is available.",
    banner: true,
    canCheck: true,
    canInstall: true,
    canRestart: false,
  });
  assert.equal(view(available, ko, "ko").text, "새 버전 1.4.0을 설치할 수 있습니다.");
  // Later hides the banner; About still says it and still offers it.
  assert.equal(view({ ...available, dismissed: true }).banner, false);
  assert.equal(view({ ...available, dismissed: true }).canInstall, true);
});

test("while installing nothing else is offered, and waiting for transfers says so", () => {
  const check = { state: "available", version: "1.4.0" };
  const waiting = view({ check, phase: { phase: "waitingForTransfers" } });
  assert.equal(waiting.text, "The update will be installed when the transfers are done.");
  assert.deepEqual([waiting.canCheck, waiting.canInstall, waiting.canRestart], [false, false, false]);
  assert.equal(view({ check, phase: { phase: "downloading", done: 512, total: 2048 } }).text, "Downloading the update… 25%");
  assert.equal(view({ check, phase: { phase: "downloading", done: 512, total: null } }).text, "Downloading the update…");
  assert.equal(view({ check, phase: { phase: "installing" } }, ko, "ko").text, "업데이트를 설치하는 중…");
});

test("an installed update asks for a restart; a refused one says the app is unchanged and can be tried again", () => {
  const installed = view({ check: { state: "installed", version: "1.4.0" } });
  assert.equal(installed.text, "Version 1.4.0 is installed. Restart the app to use it.");
  assert.deepEqual([installed.banner, installed.canRestart, installed.canInstall, installed.canCheck], [true, true, false, false]);
  const refused = view({
    check: { state: "available", version: "1.4.0" },
    error: { kind: "update_unverified", message: "…", duringInstall: true },
  });
  assert.equal(refused.text, "The update could not be verified, so it was not installed. The app is unchanged.");
  assert.equal(refused.banner, true);
  assert.equal(refused.canInstall, true);
  assert.equal(
    view({ error: { kind: "update_unreachable" } }, ko, "ko").text,
    "업데이트 서버에 연결할 수 없습니다. 나중에 다시 시도하세요.",
  );
  assert.equal(view({ error: { kind: "transfers_moving", duringInstall: true } }).text, "Transfers are still moving. Restart when they are done.");
});

test("a build without an update address says so and offers no check", () => {
  const none = view({ check: { state: "notConfigured" } });
  assert.equal(none.text, "This copy of the app does not check for updates.");
  assert.equal(none.canCheck, false);
});
