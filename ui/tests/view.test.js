import { test } from "node:test";
import assert from "node:assert/strict";

import { visibleRange } from "../src/view.js";

const view = (listTop, count = 500) => ({ listTop, viewHeight: 600, pitch: 100, count, overscan: 2 });

test("the rows in view and a few either side are drawn", () => {
  // The list starts 200 px down the view: rows 0-3 are in view, then two more.
  assert.deepEqual(visibleRange(view(200)), { first: 0, end: 6 });
  // Scrolled 1,050 px into the list: rows 10-16 cross the view, two more either side.
  assert.deepEqual(visibleRange(view(-1050)), { first: 8, end: 19 });
});

test("the range stays inside the list", () => {
  assert.deepEqual(visibleRange(view(-49_900)), { first: 497, end: 500 });
  assert.deepEqual(visibleRange(view(0, 3)), { first: 0, end: 3 });
  assert.deepEqual(visibleRange(view(0, 0)), { first: 0, end: 0 });
  // A list scrolled far out of view (after rows were removed) draws nothing rather than failing.
  assert.deepEqual(visibleRange(view(-90_000, 10)), { first: 10, end: 10 });
});

test("with no row height known, only a few rows are drawn", () => {
  assert.deepEqual(visibleRange({ ...view(0), pitch: 0 }), { first: 0, end: 2 });
});
