// node --test, in a scratch project where `npm install` put the packed mockmodel tarballs, the AWS SDK
// v3 and openai: what a user of `npm install mockmodel` writes.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { BedrockRuntimeClient, ConverseCommand, ConverseStreamCommand } from "@aws-sdk/client-bedrock-runtime";
import OpenAI from "openai";
import { binaryPath, startMockModel } from "mockmodel";

const MODEL = "anthropic.claude-3-haiku-20240307-v1:0";
const user = (text) => ({ role: "user", content: [{ text }] });

describe("one server for the file", () => {
  let mm;
  before(async () => {
    mm = await startMockModel({
      fixtures: [
        { match: { userMessage: "hello" }, response: { content: "Hello from the node test." } },
        { match: { userMessage: "count", sequenceIndex: 0 }, response: { content: "first" } },
        { match: { userMessage: "count", sequenceIndex: 1 }, response: { content: "second" } },
      ],
      chunkSize: 5,
    });
  });
  after(() => mm.close());

  test("the platform package's binary is the one that runs", () => {
    assert.match(binaryPath(), /node_modules\/@mockmodel\/[a-z0-9-]+\/bin\/mockmodel-server$/);
    assert.match(mm.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(mm.openaiBaseUrl, `${mm.url}/v1`);
    const env = mm.env();
    assert.equal(env.AWS_ENDPOINT_URL_BEDROCK_RUNTIME, mm.url);
    assert.equal(env.AWS_EC2_METADATA_DISABLED, "true");
  });

  test("AWS SDK v3 Converse and ConverseStream (default HTTP/2 handler)", async (t) => {
    const client = mm.instrumentAwsClient(new BedrockRuntimeClient({ ...mm.awsClientConfig(), maxAttempts: 1 }), t.fullName);
    const r = await client.send(new ConverseCommand({ modelId: MODEL, messages: [user("hello")] }));
    assert.equal(r.output.message.content[0].text, "Hello from the node test.");
    assert.equal(r.stopReason, "end_turn");
    const s = await client.send(new ConverseStreamCommand({ modelId: MODEL, messages: [user("hello")] }));
    const deltas = [];
    for await (const e of s.stream) if (e.contentBlockDelta) deltas.push(e.contentBlockDelta.delta.text);
    assert.equal(deltas.join(""), "Hello from the node test.");
    assert.equal(deltas[0], "Hello"); // chunkSize: 5
    const journal = await mm.journal({ testId: t.fullName });
    assert.deepEqual(journal.map((e) => e.operation), ["Converse", "ConverseStream"]);
    client.destroy();
  });

  test("openai chat completions, sequenceIndex per X-Test-Id", async () => {
    const ask = (testId) =>
      new OpenAI(mm.openaiOptions(testId)).chat.completions
        .create({ model: "gpt-4o", messages: [{ role: "user", content: "count" }] })
        .then((r) => r.choices[0].message.content);
    assert.equal(await ask("a"), "first");
    assert.equal(await ask("b"), "first");
    assert.equal(await ask("a"), "second");
    assert.equal((await mm.journal({ testId: "a" })).length, 2);
    await mm.reset();
    assert.deepEqual(await mm.journal(), []);
  });
});

test("servers started side by side keep their own fixtures", async () => {
  const servers = await Promise.all(
    [0, 1, 2].map((n) =>
      startMockModel({ fixtures: { match: { userMessage: "who" }, response: { content: `server ${n}` } }, latencyMs: 200 }),
    ),
  );
  try {
    const answers = await Promise.all(
      servers.map((s) =>
        new OpenAI(s.openaiOptions()).chat.completions
          .create({ model: "gpt-4o", messages: [{ role: "user", content: "who" }] })
          .then((r) => r.choices[0].message.content),
      ),
    );
    assert.deepEqual(answers, ["server 0", "server 1", "server 2"]);
    assert.equal(new Set(servers.map((s) => s.url)).size, 3);
  } finally {
    await Promise.all(servers.map((s) => s.close()));
  }
  const refused = await fetch(servers[0].url + "/healthz").then(() => false, () => true);
  assert.ok(refused, "closed server still answers");
});

test("a killed node process leaves no server behind", async () => {
  const { spawn } = await import("node:child_process");
  const child = spawn(
    process.execPath,
    ["--input-type=module", "-e", 'import {startMockModel} from "mockmodel"; const mm = await startMockModel(); console.log(mm.url); setInterval(() => {}, 1000);'],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const url = await new Promise((resolve) => child.stdout.once("data", (d) => resolve(String(d).trim())));
  assert.equal((await fetch(url + "/healthz")).status, 200);
  child.kill("SIGKILL");
  let gone = false;
  for (let i = 0; i < 100 && !gone; i++) {
    gone = await fetch(url + "/healthz").then(() => false, () => true);
    if (!gone) await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(gone, "the server outlived the process that started it");
});
