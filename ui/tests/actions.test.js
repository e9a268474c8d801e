import { test } from "node:test";
import assert from "node:assert/strict";

import { ROW_ACTIONS, actionNamed, actionsFor } from "../src/actions.js";
import * as backend from "../src/backend.js";
import { MESSAGES } from "../src/i18n.js";
import { Status } from "../src/transfers.js";

/** A row in `status`, with a saved result or none. */
const row = (status, resultPath = null) => ({
  id: "t1",
  name: "scan.pdf",
  size: 1000,
  status,
  transferred: 0,
  total: 1000,
  bytesPerSecond: null,
  etaSeconds: null,
  error: null,
  retrying: null,
  resuming: null,
  startedOver: null,
  resultPath,
});

/** The buttons each row shows, in order; the window tests click them by these names. */
const OFFERED = [
  [row(Status.Waiting), ["pause", "cancel"]],
  [row(Status.Uploading), ["pause", "cancel"]],
  // The service is working on the file: nothing of the app's to pause.
  [row(Status.Processing), ["cancel"]],
  [row(Status.Downloading), ["pause", "cancel"]],
  // Paused: go on, or give up (cancel keeps the row to retry, remove takes it off the list).
  [row(Status.Paused), ["resume", "cancel", "remove"]],
  [row(Status.Ready, "/results/scan.pdf"), ["open", "show", "remove"]],
  // A result the app no longer knows the place of (an old list) can only be removed.
  [row(Status.Ready), ["remove"]],
  [row(Status.Failed), ["retry", "remove"]],
  [row(Status.Cancelled), ["retry", "remove"]],
];

test("each row status offers its own actions, in the order they are shown", () => {
  for (const [sample, expected] of OFFERED) {
    const names = actionsFor(sample).map((action) => action.name);
    assert.deepEqual(names, expected, `${sample.status}, result at ${sample.resultPath}`);
  }
  const covered = new Set(OFFERED.map(([sample]) => sample.status));
  assert.deepEqual([...covered].sort(), Object.values(Status).sort(), "every status is in the table above");
});

test("every action's label is worded in English and Korean", () => {
  for (const action of ROW_ACTIONS) {
    for (const language of ["en", "ko"]) {
      assert.equal(typeof MESSAGES[language][action.label], "string", `${action.name}: ${language} ${action.label}`);
    }
  }
});

test("every action calls its own command of the app with the row's id", async () => {
  const commands = {
    pause: "pause_transfer",
    resume: "resume_transfer",
    cancel: "cancel_transfer",
    retry: "retry_transfer",
    open: "open_result",
    show: "show_result",
    remove: "remove_transfer",
  };
  assert.deepEqual(
    ROW_ACTIONS.map((action) => action.name),
    Object.keys(commands),
    "one action per command, names unique",
  );
  /** @type {[string, unknown][]} */
  const invoked = [];
  // The page reaches the app through the global the shell injects; here it records each call.
  globalThis.window = /** @type {any} */ ({
    __TAURI__: { core: { invoke: async (command, args) => invoked.push([command, args]) } },
  });
  try {
    for (const action of ROW_ACTIONS) {
      assert.equal(typeof backend[action.command], "function", `${action.name}: backend.${action.command}`);
      invoked.length = 0;
      await backend[action.command]("t7");
      assert.deepEqual(invoked, [[commands[action.name], { id: "t7" }]], action.name);
    }
  } finally {
    delete globalThis.window;
  }
});

test("a click finds its action by the button's name, and no other", () => {
  for (const action of ROW_ACTIONS) assert.equal(actionNamed(action.name), action);
  assert.equal(actionNamed("download"), undefined);
  assert.equal(actionNamed(""), undefined);
});
