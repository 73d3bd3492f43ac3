"use strict";
// startMockModel(): runs the native mockmodel-server (from the platform package npm installed as an
// optional dependency) on a free loopback port and resolves once it is ready.
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { PLATFORMS, platformKey } = require("./platforms.js");

const TEST_ID_HEADER = "X-Test-Id";
const STATIC_CREDENTIALS = Object.freeze({
  AWS_ACCESS_KEY_ID: "test",
  AWS_SECRET_ACCESS_KEY: "test",
  AWS_REGION: "us-east-1",
  AWS_DEFAULT_REGION: "us-east-1",
  AWS_EC2_METADATA_DISABLED: "true",
});
const LISTENING = /listening on (http:\/\/\S+)/;
const OWN_OPTIONS = new Set(["fixtures", "host", "port", "binary", "args", "env", "startupTimeoutMs", "testId"]);

/** The mockmodel-server executable: $MOCKMODEL_SERVER_BIN, else the installed platform package's. */
function binaryPath() {
  if (process.env.MOCKMODEL_SERVER_BIN) return process.env.MOCKMODEL_SERVER_BIN;
  const key = platformKey();
  const pkg = PLATFORMS[key];
  if (!pkg) throw new Error(`mockmodel: no prebuilt mockmodel-server for ${key}; set MOCKMODEL_SERVER_BIN`);
  let dir;
  try {
    dir = path.dirname(require.resolve(`${pkg}/package.json`));
  } catch {
    throw new Error(
      `mockmodel: ${pkg} is not installed. npm installs it as an optional dependency of mockmodel; ` +
        "reinstall without --omit=optional / --no-optional, or set MOCKMODEL_SERVER_BIN",
    );
  }
  const exe = path.join(dir, "bin", process.platform === "win32" ? "mockmodel-server.exe" : "mockmodel-server");
  try {
    fs.accessSync(exe, fs.constants.X_OK);
  } catch {
    fs.chmodSync(exe, 0o755); // some extractors drop the mode bits
  }
  return exe;
}

function flags(options) {
  const out = [];
  for (const [key, value] of Object.entries(options)) {
    if (OWN_OPTIONS.has(key) || value === undefined || value === null || value === false) continue;
    const flag = "--" + key.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase()).replace(/_/g, "-");
    if (value === true) out.push(flag);
    else if (Array.isArray(value)) for (const v of value) out.push(flag, String(v));
    else out.push(flag, String(value));
  }
  return out;
}

function isData(x) {
  return x !== null && typeof x === "object" && !Array.isArray(x);
}

/** --fixtures arguments: paths as they are, fixture objects written to temporary JSON files, in order. */
function fixtureArgs(fixtures, tmp) {
  if (fixtures === undefined || fixtures === null) return [];
  let items = Array.isArray(fixtures) ? fixtures : [fixtures];
  if (items.length > 0 && items.every((x) => isData(x) && !("fixtures" in x))) items = [{ fixtures: items }];
  const args = [];
  let pending = [];
  const flush = () => {
    if (pending.length === 0) return;
    const file = path.join(tmp(), `fixtures-${String(args.length / 2).padStart(3, "0")}.json`);
    const list = pending.flatMap((p) => ("fixtures" in p ? p.fixtures : [p]));
    fs.writeFileSync(file, JSON.stringify({ fixtures: list }));
    args.push("--fixtures", file);
    pending = [];
  };
  for (const x of items) {
    if (typeof x === "string" || x instanceof URL) {
      flush();
      args.push("--fixtures", x instanceof URL ? x.pathname : x);
    } else if (isData(x)) {
      pending.push(x);
    } else {
      throw new TypeError(`mockmodel: fixtures must be paths or objects, got ${typeof x}`);
    }
  }
  flush();
  return args;
}

/**
 * Starts a mock server. Resolves to a MockModel once /readyz answers.
 * @param {import("./index").StartOptions} [options]
 * @returns {Promise<import("./index").MockModel>}
 */
async function startMockModel(options = {}) {
  const { host = "127.0.0.1", port = 0, binary, args = [], env = {}, startupTimeoutMs = 30000 } = options;
  let tmpdir = null;
  const tmp = () => (tmpdir ??= fs.mkdtempSync(path.join(os.tmpdir(), "mockmodel-")));
  const cleanup = () => {
    if (tmpdir) fs.rmSync(tmpdir, { recursive: true, force: true });
    tmpdir = null;
  };
  const serverArgs = ["--host", host, "--port", String(port), "--log-format", "text"];
  serverArgs.push(...fixtureArgs(options.fixtures, tmp), ...flags(options), ...args);
  // The server reads MOCKMODEL_* variables too; only what this call says counts.
  const childEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("MOCKMODEL_")));
  Object.assign(childEnv, { RUST_LOG: "warn,mockmodel_server=info", NO_COLOR: "1" }, env);
  const child = spawn(process.execPath, [path.join(__dirname, "watchdog.js"), binary ?? binaryPath(), ...serverArgs], {
    stdio: ["pipe", "ignore", "pipe"],
    env: childEnv,
  });
  const log = [];
  const onExit = () => child.kill("SIGKILL");
  process.on("exit", onExit);
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));

  let url;
  try {
    url = await new Promise((resolve, reject) => {
      let buf = "";
      const timer = setTimeout(() => reject(new Error(`mockmodel-server did not start:\n${log.join("\n")}`)), startupTimeoutMs);
      child.stderr.setEncoding("utf8");
      child.stderr.on("data", (chunk) => {
        buf += chunk;
        let nl;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          log.push(line);
          if (log.length > 200) log.shift();
          const m = LISTENING.exec(line);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]);
          }
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`mockmodel-server exited (${code}) before listening:\n${log.join("\n")}`));
      });
      child.once("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
    const deadline = Date.now() + startupTimeoutMs;
    for (;;) {
      try {
        const r = await fetch(url + "/readyz");
        await r.arrayBuffer();
        if (r.ok) break;
      } catch {
        /* not yet */
      }
      if (Date.now() > deadline) throw new Error(`mockmodel-server never became ready:\n${log.join("\n")}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  } catch (e) {
    process.removeListener("exit", onExit);
    child.kill("SIGKILL");
    cleanup();
    throw e;
  }
  // A forgotten close() must not keep the test runner alive: the process 'exit' hook (and the
  // watchdog, if we are killed) still stop the server.
  child.unref();
  child.stdin.unref?.();
  child.stderr.unref?.();

  let closing = null;
  const mm = new MockModel(url, options.testId, log, child.pid, () => {
    closing ??= (async () => {
      process.removeListener("exit", onExit);
      child.kill("SIGTERM");
      child.stdin.end();
      const timer = setTimeout(() => child.kill("SIGKILL"), 7000);
      await exited;
      clearTimeout(timer);
      cleanup();
    })();
    return closing;
  });
  return mm;
}

class MockModel {
  constructor(url, testId, log, pid, close) {
    this.url = url;
    this.openaiBaseUrl = url + "/v1";
    this.bedrockEndpointUrl = url;
    this.sagemakerEndpointUrl = url;
    this.anthropicBaseUrl = url;
    this.testId = testId;
    this.log = log;
    this.pid = pid;
    this._close = close;
  }

  /** Environment variables that point unchanged SDK code here, with fake keys and static AWS credentials. */
  env() {
    return {
      AWS_ENDPOINT_URL_BEDROCK_RUNTIME: this.bedrockEndpointUrl,
      AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME: this.sagemakerEndpointUrl,
      OPENAI_BASE_URL: this.openaiBaseUrl,
      OPENAI_API_KEY: "test",
      ANTHROPIC_BASE_URL: this.anthropicBaseUrl,
      ANTHROPIC_API_KEY: "test",
      ...STATIC_CREDENTIALS,
    };
  }

  /** `{"X-Test-Id": testId}` (scopes sequenceIndex counters and the journal to one test). */
  headers(testId = this.testId) {
    return testId ? { [TEST_ID_HEADER]: String(testId) } : {};
  }

  /** Options for `new OpenAI(...)`: base URL, a fake key, the X-Test-Id header. */
  openaiOptions(testId = this.testId) {
    return { baseURL: this.openaiBaseUrl, apiKey: "test", defaultHeaders: this.headers(testId) };
  }

  /** Config for AWS SDK v3 clients (BedrockRuntimeClient, SageMakerRuntimeClient): endpoint, region, static credentials. */
  awsClientConfig() {
    return { endpoint: this.url, region: "us-east-1", credentials: { accessKeyId: "test", secretAccessKey: "test" } };
  }

  /** Adds the X-Test-Id header to every request of an AWS SDK v3 client (a build-step middleware). */
  instrumentAwsClient(client, testId = this.testId) {
    const headers = this.headers(testId);
    client.middlewareStack.add(
      (next) => async (args) => {
        if (args.request && args.request.headers) Object.assign(args.request.headers, headers);
        return next(args);
      },
      { step: "build", name: "mockmodelTestId" },
    );
    return client;
  }

  async _admin(method, p) {
    const r = await fetch(this.url + p, { method });
    if (!r.ok) throw new Error(`mockmodel: ${method} ${p} answered ${r.status}`);
    return r.status === 204 ? null : r.json();
  }

  /** Requests the server answered, oldest first; `testId` (default: this handle's) filters, `unmatched` keeps misses. */
  async journal({ testId = this.testId, unmatched = false } = {}) {
    let entries = (await this._admin("GET", "/__mockmodel/journal")).entries;
    if (testId) entries = entries.filter((e) => e.testId === testId);
    if (unmatched) entries = entries.filter((e) => e.fixture === null || e.fixture === undefined);
    return entries;
  }

  /** What the server loaded. */
  fixtures() {
    return this._admin("GET", "/__mockmodel/fixtures");
  }

  /** Clears the journal and every sequenceIndex / fail-first counter. */
  async reset() {
    await this._admin("POST", "/__mockmodel/reset");
  }

  /** Stops the server (SIGTERM, then SIGKILL after 7 s) and removes temporary fixture files. */
  close() {
    return this._close();
  }
}
if (Symbol.asyncDispose) {
  // `await using mm = await startMockModel(...)` where the runtime supports explicit resource management.
  MockModel.prototype[Symbol.asyncDispose] = function () {
    return this.close();
  };
}

module.exports = { startMockModel, binaryPath, MockModel, TEST_ID_HEADER, STATIC_CREDENTIALS };
