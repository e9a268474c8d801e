// The results on the server, page by page: which page to ask for next, and the list so far. The
// app answers one page at a time (`{ results, nextCursor }`); the view asks for the next page as
// the user scrolls near the end. Paging stops on the last page (no cursor) and on a cursor it has
// already asked with, so a service that repeats itself cannot make the page ask forever.
// Pure functions, tested without a window.

/**
 * @typedef {object} Result
 * @property {string} name
 * @property {number} size
 * @property {string} lastModified RFC 3339
 */

/**
 * @typedef {object} Pages
 * @property {Result[]} results every result so far, in the service's order, each name once
 * @property {Set<string>} names the names in `results`
 * @property {string | null} cursor what to ask with next (`null`: the first page)
 * @property {Set<string>} asked the cursors already asked with
 * @property {boolean} done whether the last page has come
 */

/** Nothing loaded yet. @returns {Pages} */
export function noPages() {
  return { results: [], names: new Set(), cursor: null, asked: new Set(), done: false };
}

/**
 * The cursor to ask the next page with (`null` for the first page), or `undefined` when there is
 * nothing more to ask for.
 * @param {Pages} pages
 * @returns {string | null | undefined}
 */
export function nextRequest(pages) {
  return pages.done ? undefined : pages.cursor;
}

/**
 * The list with `page` (the answer to {@link nextRequest}) added; `pages` is left as it was.
 * @param {Pages} pages
 * @param {{ results?: Result[], nextCursor?: string | null }} page
 * @returns {Pages}
 */
export function addPage(pages, page) {
  if (pages.done) return pages;
  const asked = new Set(pages.asked);
  if (pages.cursor !== null) asked.add(pages.cursor);
  const names = new Set(pages.names);
  const results = [...pages.results];
  for (const result of page.results ?? []) {
    if (names.has(result.name)) continue;
    names.add(result.name);
    results.push(result);
  }
  const next = typeof page.nextCursor === "string" && page.nextCursor !== "" ? page.nextCursor : null;
  const done = next === null || asked.has(next);
  return { results, names, cursor: done ? null : next, asked, done };
}

/**
 * Whether the view should ask for the next page now: more exist, and the rows drawn reach within
 * `margin` rows of the end of what is loaded.
 * @param {Pages} pages
 * @param {number} drawnEnd the index after the last row drawn
 * @param {number} margin
 */
export function wantsMore(pages, drawnEnd, margin) {
  return !pages.done && drawnEnd + margin >= pages.results.length;
}
