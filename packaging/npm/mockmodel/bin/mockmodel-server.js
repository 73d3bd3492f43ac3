#!/usr/bin/env node
"use strict";
// `npx mockmodel-server [ARGS]`: runs the platform's native mockmodel-server with ARGS.
const { spawnSync } = require("node:child_process");
const { binaryPath } = require("../index.js");

const r = spawnSync(binaryPath(), process.argv.slice(2), { stdio: "inherit" });
if (r.error) {
  console.error(r.error.message);
  process.exit(127);
}
process.exit(r.status ?? 1);
