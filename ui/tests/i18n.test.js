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

test("every placeholder of a message is in its translation, in every plural form", () => {
  const forms = (message) => (typeof message === "string" ? [message] : Object.values(message));
  const placeholders = (text) => [...new Set([...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]))].sort();
  for (const [key, english] of Object.entries(MESSAGES.en)) {
    const wanted = placeholders(forms(english)[0]);
    for (const form of [...forms(english), ...forms(MESSAGES.ko[key])]) {
      assert.deepEqual(placeholders(form), wanted, key);
    }
  }
});

test("counted words follow the number in English; Korean has one form", () => {
  const summary = (language, count) =>
    translator(language)("totals.summary", { count, ready: count, active: 0, failed: 0 });
  assert.equal(summary("en", 0), "0 files · 0 ready · 0 in progress · 0 failed");
  assert.equal(summary("en", 1), "1 file · 1 ready · 0 in progress · 0 failed");
  assert.equal(summary("en", 2), "2 files · 2 ready · 0 in progress · 0 failed");
  assert.equal(summary("ko", 0), "파일 0개 · 완료 0 · 진행 중 0 · 실패 0");
  assert.equal(summary("ko", 1), "파일 1개 · 완료 1 · 진행 중 0 · 실패 0");
  assert.equal(summary("ko", 2), "파일 2개 · 완료 2 · 진행 중 0 · 실패 0");
  const en = translator("en");
  assert.deepEqual([0, 1, 2].map((count) => en("results.count", { count })), ["0 results", "1 result", "2 results"]);
  // A language without its own message falls back to English, plural forms and all.
  assert.equal(translator("fr")("results.count", { count: 1 }), "1 result");
});

test("a processing failure gives the processor's reason, as it came, in the user's language", () => {
  const error = { kind: "processing_failed", message: "The file could not be processed: ignored", detail: "corrupt header (page 3)" };
  assert.equal(errorMessage(error, translator("en")), "The file could not be processed: corrupt header (page 3)");
  assert.equal(errorMessage(error, translator("ko")), "파일을 처리할 수 없습니다: corrupt header (page 3)");
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
