// The page against what the Rust side sends, through fixtures the Rust tests keep true: every
// error kind the app can send has words in both languages, and the transfer list's events,
// replayed scenario by scenario through the page's applier, leave the rows each scenario says.
// When the Rust side changes what it sends, its tests fail until the fixtures are rewritten
// (`DDN_BLESS=1`), and these tests then say whether the page still agrees.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";

import { LANGUAGES, MESSAGES, errorKey, errorMessage, translator } from "../src/i18n.js";
import { applyEvent, applyEvents, emptyList } from "../src/transfers.js";

const fixtures = new URL("./fixtures/", import.meta.url);
const readJson = (path) => JSON.parse(readFileSync(new URL(path, fixtures), "utf8"));

const errorKinds = readJson("error-kinds.json");

test("the Rust side's list of error kinds is a list of names", () => {
  assert.ok(Array.isArray(errorKinds) && errorKinds.length > 0);
  for (const kind of errorKinds) assert.match(kind, /^[a-z]+(_[a-z]+)*$/);
  assert.equal(new Set(errorKinds).size, errorKinds.length, "no kind twice");
});

test("every error kind the Rust side can send has an English and a Korean message", () => {
  for (const language of LANGUAGES) {
    const missing = errorKinds.filter((kind) => typeof MESSAGES[language][errorKey(kind)] !== "string");
    assert.deepEqual(missing, [], `kinds without a message in ${language}`);
  }
});

test("every error kind is explained by its own words, not the fallback", () => {
  for (const language of LANGUAGES) {
    const t = translator(language);
    for (const kind of errorKinds.filter((kind) => kind !== "unknown")) {
      const text = errorMessage({ kind, message: "m", detail: "d" }, t);
      assert.notEqual(text, t("error.unknown"), `${kind} in ${language}`);
    }
  }
});

const scenarios = readdirSync(new URL("row-events/", fixtures))
  .filter((name) => name.endsWith(".json"))
  .sort()
  .map((name) => ({ name, ...readJson(`row-events/${name}`) }));

/** The rows of `list` in the order the page shows them. */
const rowsOf = (list) => list.order.map((id) => list.rows[id]);

test("there are row event scenarios", () => {
  assert.ok(scenarios.length >= 4, "the scenarios are in ui/tests/fixtures/row-events/");
});

for (const scenario of scenarios) {
  test(`row events: ${scenario.name}: ${scenario.scenario}`, () => {
    let batched = emptyList();
    let oneByOne = emptyList();
    for (const step of scenario.steps) {
      assert.ok(step.events.length > 0, `${step.step}: the step sends events`);
      batched = applyEvents(batched, step.events);
      oneByOne = step.events.reduce(applyEvent, oneByOne);
      assert.deepEqual(rowsOf(batched), step.rows, `after "${step.step}"`);
      assert.deepEqual(oneByOne, batched, `after "${step.step}", one event at a time`);
    }
  });
}
