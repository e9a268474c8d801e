import { test } from "node:test";
import assert from "node:assert/strict";

import { MESSAGES, errorMessage, pickLanguage, translator } from "../src/i18n.js";

test("the language follows the user's choice, then the system, then English", () => {
  assert.equal(pickLanguage("ko", ["en-US"]), "ko");
  assert.equal(pickLanguage("system", ["ko-KR", "en-US"]), "ko");
  assert.equal(pickLanguage(null, ["fr-FR", "en-GB"]), "en");
  assert.equal(pickLanguage("", ["fr-FR", "de"]), "en");
  assert.equal(pickLanguage("xx", ["ko_KR"]), "ko");
});

test("Korean has every English message, and no extra ones", () => {
  assert.deepEqual(Object.keys(MESSAGES.ko).sort(), Object.keys(MESSAGES.en).sort());
});

test("every placeholder of a message is in its translation", () => {
  const placeholders = (text) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
  for (const [key, english] of Object.entries(MESSAGES.en)) {
    assert.deepEqual(placeholders(MESSAGES.ko[key]), placeholders(english), key);
  }
});

test("placeholders are filled; unknown ones and unknown keys stay visible", () => {
  const t = translator("en");
  assert.equal(t("row.retrying", { reason: "The connection dropped.", delay: "5 s" }),
    "The connection dropped. Trying again in 5 s.");
  assert.equal(t("duration.seconds"), "{seconds} s");
  assert.equal(t("no.such.key"), "no.such.key");
});

test("errors are explained by their kind, never by their text", () => {
  const t = translator("ko");
  assert.equal(errorMessage({ kind: "connection", message: "ignored" }, t), "연결이 끊어졌습니다.");
  assert.equal(errorMessage({ kind: "somethingNew", message: "raw detail" }, t), "문제가 발생했습니다.");
  assert.equal(errorMessage(null, t), "문제가 발생했습니다.");
  // The app spells kinds in snake_case.
  assert.equal(errorMessage({ kind: "wait_timed_out", message: "x" }, t), "결과가 제시간에 도착하지 않았습니다.");
  assert.equal(errorMessage({ kind: "not_configured", message: "x" }, translator("en")),
    "Set the service address and access token in the settings first.");
  // A refusal carries the service's own reason.
  assert.equal(
    errorMessage({ kind: "refused", message: "The file name is too long." }, t),
    "The file name is too long.",
  );
});
