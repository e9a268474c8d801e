import { test } from "node:test";
import assert from "node:assert/strict";

import { addPage, nextRequest, noPages, wantsMore } from "../src/results-pages.js";

const result = (name) => ({ name, size: 1, lastModified: "2026-01-01T00:00:00Z" });
const page = (names, nextCursor) => ({ results: names.map(result), nextCursor });
const names = (pages) => pages.results.map((r) => r.name);

test("the first page is asked without a cursor, each next one with the cursor the last gave", () => {
  let pages = noPages();
  assert.equal(nextRequest(pages), null);
  pages = addPage(pages, page(["a", "b"], "c1"));
  assert.equal(nextRequest(pages), "c1");
  pages = addPage(pages, page(["c", "d"], "c2"));
  assert.equal(nextRequest(pages), "c2");
  pages = addPage(pages, page(["e"], null));
  assert.equal(nextRequest(pages), undefined, "the last page has come");
  assert.deepEqual(names(pages), ["a", "b", "c", "d", "e"]);
  assert.equal(pages.done, true);
});

test("a missing or empty cursor ends the paging", () => {
  assert.equal(addPage(noPages(), { results: [result("a")] }).done, true);
  assert.equal(addPage(noPages(), page(["a"], "")).done, true);
  assert.equal(addPage(noPages(), {}).done, true);
});

test("a cursor already asked with ends the paging instead of asking forever", () => {
  let pages = addPage(noPages(), page(["a"], "c1"));
  pages = addPage(pages, page(["b"], "c2"));
  // The service answers c2 with a page pointing back at c1.
  pages = addPage(pages, page(["c"], "c1"));
  assert.equal(pages.done, true);
  assert.equal(nextRequest(pages), undefined);
  assert.deepEqual(names(pages), ["a", "b", "c"]);
  // A page that points at the cursor it answered ends it too.
  let stuck = addPage(noPages(), page(["a"], "x"));
  stuck = addPage(stuck, page(["b"], "x"));
  assert.equal(stuck.done, true);
});

test("a name listed twice is shown once, and the old list is left as it was", () => {
  const first = addPage(noPages(), page(["a", "b"], "c1"));
  const second = addPage(first, page(["b", "c"], "c2"));
  assert.deepEqual(names(second), ["a", "b", "c"]);
  assert.deepEqual(names(first), ["a", "b"]);
  assert.equal(nextRequest(first), "c1");
  // Pages that come after the end change nothing.
  const done = addPage(second, page(["z"], null));
  assert.equal(addPage(done, page(["y"], "c9")), done);
});

test("more is asked for only when the rows drawn near the end of those loaded", () => {
  const pages = addPage(noPages(), page(Array.from({ length: 200 }, (_, i) => `r${i}`), "c1"));
  assert.equal(wantsMore(pages, 20, 40), false);
  assert.equal(wantsMore(pages, 159, 40), false);
  assert.equal(wantsMore(pages, 160, 40), true);
  assert.equal(wantsMore(addPage(pages, page([], null)), 200, 40), false, "nothing more to ask for");
  assert.equal(wantsMore(noPages(), 0, 40), true, "the first page");
});
