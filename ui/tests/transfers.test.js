import { test } from "node:test";
import assert from "node:assert/strict";

import { actionsFor } from "../src/actions.js";
import { Status, applyEvent, applyEvents, emptyList, totals } from "../src/transfers.js";

/** Applies events in order from an empty list. */
function run(...events) {
  return events.reduce(applyEvent, emptyList());
}

const added = (id, size = 1000) => ({ type: "added", id, name: `${id}.png`, size });

/** The names of the actions a row offers, in the order its buttons are shown. */
const offered = (row) => actionsFor(row).map((action) => action.name);

test("a file goes from waiting to ready through every phase", () => {
  const steps = [
    [added("a"), Status.Waiting],
    [{ type: "uploading", id: "a", total: 1000 }, Status.Uploading],
    [{ type: "progress", id: "a", transferred: 400, total: 1000, bytesPerSecond: 200, etaSeconds: 3 }, Status.Uploading],
    [{ type: "processing", id: "a" }, Status.Processing],
    [{ type: "downloading", id: "a", total: 900 }, Status.Downloading],
    [{ type: "progress", id: "a", transferred: 900, total: 900, bytesPerSecond: 900, etaSeconds: 0 }, Status.Downloading],
    [{ type: "ready", id: "a", resultPath: "/results/a.png" }, Status.Ready],
  ];
  let list = emptyList();
  for (const [event, status] of steps) {
    list = applyEvent(list, event);
    assert.equal(list.rows.a.status, status, JSON.stringify(event));
  }
  assert.equal(list.rows.a.resultPath, "/results/a.png");
  assert.deepEqual(offered(list.rows.a), ["open", "show", "remove"]);
});

test("an upload's size is the file's size when it starts (it may have appeared after a failure)", () => {
  const list = run(added("a", 0), { type: "uploading", id: "a", total: 4096 });
  assert.equal(list.rows.a.size, 4096);
  assert.equal(list.rows.a.total, 4096);
});

test("progress is cumulative per phase and a new phase starts from zero", () => {
  let list = run(added("a"), { type: "uploading", id: "a", total: 1000 });
  list = applyEvent(list, { type: "progress", id: "a", transferred: 700, total: 1000, bytesPerSecond: 10, etaSeconds: 30 });
  assert.equal(list.rows.a.transferred, 700);
  list = applyEvent(list, { type: "processing", id: "a" });
  list = applyEvent(list, { type: "downloading", id: "a", total: 500 });
  assert.equal(list.rows.a.transferred, 0);
  assert.equal(list.rows.a.total, 500);
  // The row keeps the sent file's size; the result's size is only the phase's total.
  assert.equal(list.rows.a.size, 1000);
  assert.equal(list.rows.a.bytesPerSecond, null);
});

test("late events never revive a finished row", () => {
  const cancelled = run(added("a"), { type: "uploading", id: "a" }, { type: "cancelled", id: "a" });
  for (const late of [
    { type: "progress", id: "a", transferred: 10, total: 1000 },
    { type: "processing", id: "a" },
    { type: "ready", id: "a", resultPath: "/x" },
    { type: "failed", id: "a", error: { kind: "connection", message: "" } },
  ]) {
    const after = applyEvent(cancelled, late);
    assert.equal(after, cancelled, `${late.type} changed a cancelled row`);
  }
  const waiting = run(added("b"));
  assert.equal(applyEvent(waiting, { type: "progress", id: "b", transferred: 5, total: 10 }), waiting);
});

test("a failure keeps its reason until retried, then the row waits again", () => {
  const error = { kind: "connection", message: "The connection dropped." };
  let list = run(added("a"), { type: "uploading", id: "a" }, { type: "failed", id: "a", error });
  assert.equal(list.rows.a.status, Status.Failed);
  assert.deepEqual(list.rows.a.error, error);
  assert.deepEqual(offered(list.rows.a), ["retry", "remove"]);
  list = applyEvent(list, { type: "retried", id: "a" });
  assert.equal(list.rows.a.status, Status.Waiting);
  assert.equal(list.rows.a.error, null);
  assert.deepEqual(offered(list.rows.a), ["pause", "cancel"]);
});

test("an automatic retry is shown until bytes move again", () => {
  let list = run(added("a"), { type: "downloading", id: "a" });
  list = applyEvent(list, { type: "retrying", id: "a", kind: "connection", reason: "The connection dropped.", delaySeconds: 5 });
  assert.deepEqual(list.rows.a.retrying, { kind: "connection", reason: "The connection dropped.", delaySeconds: 5 });
  list = applyEvent(list, { type: "progress", id: "a", transferred: 1, total: 1000 });
  assert.equal(list.rows.a.retrying, null);
});

test("events leave the previous list untouched", () => {
  const before = run(added("a"));
  const snapshot = structuredClone(before);
  applyEvent(before, { type: "uploading", id: "a" });
  applyEvent(before, { type: "removed", id: "a" });
  assert.deepEqual(before, snapshot);
});

test("rows keep their order; duplicates and unknown ids are ignored; removal works", () => {
  let list = run(added("a"), added("b"), added("c"), added("b"));
  assert.deepEqual(list.order, ["a", "b", "c"]);
  assert.equal(applyEvent(list, { type: "ready", id: "zzz" }), list);
  list = applyEvent(list, { type: "removed", id: "b" });
  assert.deepEqual(list.order, ["a", "c"]);
  assert.equal(list.rows.b, undefined);
});

test("totals count rows by outcome and add up the speeds of moving ones", () => {
  const list = run(
    added("a", 100),
    added("b", 200),
    added("c", 300),
    added("d", 400),
    { type: "uploading", id: "a" },
    { type: "progress", id: "a", transferred: 10, total: 100, bytesPerSecond: 50 },
    { type: "downloading", id: "b" },
    { type: "progress", id: "b", transferred: 10, total: 200, bytesPerSecond: 25 },
    { type: "uploading", id: "c" },
    { type: "failed", id: "c", error: { kind: "io", message: "" } },
    { type: "uploading", id: "d" },
    { type: "processing", id: "d" },
    { type: "ready", id: "d", resultPath: "/d" },
  );
  assert.deepEqual(totals(list), { count: 4, ready: 1, failed: 1, active: 2, bytes: 1000, bytesPerSecond: 75 });
  assert.deepEqual(totals(emptyList()), { count: 0, ready: 0, failed: 0, active: 0, bytes: 0, bytesPerSecond: 0 });
});

test("a progress event replaces only its own row, among 200", () => {
  // Rows that did not change keep their identity, so the view redraws one row, not 200.
  let list = emptyList();
  for (let i = 0; i < 200; i += 1) list = applyEvent(list, added(`f${i}`));
  for (let i = 0; i < 200; i += 1) list = applyEvent(list, { type: "uploading", id: `f${i}` });
  const before = list;
  const after = applyEvent(list, { type: "progress", id: "f7", transferred: 1, total: 1000 });
  const changed = after.order.filter((id) => after.rows[id] !== before.rows[id]);
  assert.deepEqual(changed, ["f7"]);
  assert.equal(after.order, before.order);
});

test("a batch gives the same list as its events one by one, copying the list once", () => {
  const before = run(added("a"), added("b"), { type: "uploading", id: "a", total: 1000 });
  const batch = [
    ...Array.from({ length: 200 }, (_, i) => added(`n${i}`)),
    { type: "progress", id: "a", transferred: 10, total: 1000, bytesPerSecond: 5, etaSeconds: 9 },
    { type: "removed", id: "n7" },
    { type: "failed", id: "n8", error: { kind: "io", message: "gone" } },
    { type: "ready", id: "nobody" },
  ];
  const together = applyEvents(before, batch);
  assert.deepEqual(together, batch.reduce(applyEvent, before));
  assert.equal(together.order.length, 201);
  assert.equal(together.rows.b, before.rows.b, "an untouched row stays the same object");
  assert.equal(before.order.length, 2, "the old list is left as it was");
  assert.equal(before.rows.n0, undefined);
});

test("a batch that changes nothing answers the same list", () => {
  const list = run(added("a"));
  assert.equal(applyEvents(list, [added("a"), { type: "progress", id: "a", transferred: 1, total: 2 }]), list);
  assert.equal(applyEvents(list, []), list);
});

test("a row removed and added again in one batch appears once", () => {
  const list = applyEvents(run(added("a"), added("b")), [{ type: "removed", id: "a" }, added("a")]);
  assert.deepEqual(list.order, ["b", "a"]);
});

test("a paused row keeps still until resumed, then waits its turn again", () => {
  let list = run(added("a"), { type: "uploading", id: "a", total: 1000 });
  list = applyEvent(list, { type: "progress", id: "a", transferred: 400, total: 1000, bytesPerSecond: 100, etaSeconds: 6 });
  list = applyEvent(list, { type: "paused", id: "a" });
  assert.equal(list.rows.a.status, Status.Paused);
  assert.equal(list.rows.a.bytesPerSecond, null, "a paused row has no speed");
  assert.deepEqual(offered(list.rows.a), ["resume", "cancel", "remove"]);
  assert.deepEqual(totals(list).active, 0, "a paused row is not in progress");
  // A report the engine sent just before it stopped changes nothing.
  const late = applyEvent(list, { type: "progress", id: "a", transferred: 500, total: 1000 });
  assert.equal(late, list);
  list = applyEvent(list, { type: "unpaused", id: "a" });
  assert.equal(list.rows.a.status, Status.Waiting);
  assert.deepEqual(offered(list.rows.a), ["pause", "cancel"]);
  // Unpaused means nothing to a row that is not paused; nor can a processing row be paused.
  assert.equal(applyEvent(list, { type: "unpaused", id: "a" }), list);
  const processing = run(added("b"), { type: "processing", id: "b" });
  assert.equal(applyEvent(processing, { type: "paused", id: "b" }), processing);
});

test("an uploaded row resumed goes back to waiting for its result", () => {
  let list = run(added("a"), { type: "processing", id: "a" }, { type: "downloading", id: "a", total: 900 });
  list = applyEvents(list, [{ type: "paused", id: "a" }, { type: "unpaused", id: "a" }, { type: "processing", id: "a" }]);
  assert.equal(list.rows.a.status, Status.Processing);
});

test("a paused row can be cancelled, and then retried", () => {
  let list = run(added("a"), { type: "uploading", id: "a" }, { type: "paused", id: "a" });
  list = applyEvent(list, { type: "cancelled", id: "a" });
  assert.equal(list.rows.a.status, Status.Cancelled);
  list = applyEvent(list, { type: "retried", id: "a" });
  assert.equal(list.rows.a.status, Status.Waiting);
});

test("a resumed transfer says what it kept until its progress moves past it", () => {
  let list = run(added("a", 7_900_000_000), { type: "uploading", id: "a", total: 7_900_000_000 });
  list = applyEvent(list, { type: "resumed", id: "a", alreadySent: 3_100_000_000, total: 7_900_000_000 });
  assert.deepEqual(list.rows.a.resuming, { alreadySent: 3_100_000_000, total: 7_900_000_000 });
  assert.equal(list.rows.a.transferred, 3_100_000_000, "the bar starts where the upload stands");
  // Progress that only reaches what was kept still says so; the first byte past it ends it.
  list = applyEvent(list, { type: "progress", id: "a", transferred: 3_100_000_000, total: 7_900_000_000 });
  assert.notEqual(list.rows.a.resuming, null);
  list = applyEvent(list, { type: "progress", id: "a", transferred: 3_108_388_608, total: 7_900_000_000 });
  assert.equal(list.rows.a.resuming, null);
  // Resumed means nothing to a row that does not move.
  const waiting = run(added("b"));
  assert.equal(applyEvent(waiting, { type: "resumed", id: "b", alreadySent: 1, total: 2 }), waiting);
});

test("a transfer that started over keeps its note for the rest of its phase", () => {
  let list = run(added("a"), { type: "uploading", id: "a", total: 1000 });
  list = applyEvent(list, { type: "resumed", id: "a", alreadySent: 600, total: 1000 });
  list = applyEvent(list, { type: "startedOver", id: "a", reason: "fileChanged" });
  assert.equal(list.rows.a.startedOver, "fileChanged");
  assert.equal(list.rows.a.resuming, null, "nothing kept any more");
  assert.equal(list.rows.a.transferred, 0, "the bar starts again from nothing");
  list = applyEvent(list, { type: "progress", id: "a", transferred: 100, total: 1000 });
  assert.equal(list.rows.a.startedOver, "fileChanged");
  list = applyEvent(list, { type: "processing", id: "a" });
  assert.equal(list.rows.a.startedOver, null);
});
