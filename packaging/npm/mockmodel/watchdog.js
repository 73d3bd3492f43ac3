"use strict";
// node watchdog.js BINARY ARGS...: runs the server and stops it when stdin (a pipe only the process
// that started us holds) ends, i.e. when that process closes it or dies in any way, even by SIGKILL.
// Node has no PR_SET_PDEATHSIG; this is what keeps a killed test runner from leaving a server behind.
const { spawn } = require("node:child_process");

const [binary, ...args] = process.argv.slice(2);
const child = spawn(binary, args, { stdio: ["ignore", "ignore", "inherit"] });
let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  child.kill("SIGTERM");
  setTimeout(() => child.kill("SIGKILL"), 5000).unref();
}
process.stdin.on("end", stop);
process.stdin.on("error", stop);
process.stdin.on("close", stop);
process.stdin.resume();
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
child.on("error", (e) => {
  process.stderr.write(`mockmodel watchdog: cannot run ${binary}: ${e.message}\n`);
  process.exit(127);
});
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
