// The AWS SDK for JavaScript v3 Bedrock Runtime client, unchanged apart from its endpoint, against
// mockmodel-server. Usage: node bedrock_client.cjs http://127.0.0.1:PORT
// Prints what the SDK parsed as one JSON object; tests/python/test_bedrock.py asserts on it.
// CommonJS on purpose: require() honours NODE_PATH, so the cached node_modules can live outside the repo.
"use strict";
const {
  BedrockRuntimeClient,
  ConverseCommand,
  ConverseStreamCommand,
  CountTokensCommand,
  InvokeModelWithResponseStreamCommand,
} = require("@aws-sdk/client-bedrock-runtime");

const MODEL = "anthropic.claude-3-haiku-20240307-v1:0";
const input = (text) => ({ modelId: MODEL, messages: [{ role: "user", content: [{ text }] }] });

async function main(endpoint) {
  // No requestHandler given: the client's default, an HTTP/2-only handler (h2c on http://).
  const client = new BedrockRuntimeClient({
    endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
    maxAttempts: 1,
  });
  const out = { handler: client.config.requestHandler.constructor.name };

  // CountTokens for a converse input, then the same messages answered: the two counts must agree.
  const counted = await client.send(new CountTokensCommand({ modelId: MODEL, input: { converse: { messages: input("hello").messages } } }));
  out.countTokens = counted.inputTokens;

  const r = await client.send(new ConverseCommand(input("hello")));
  out.converse = { content: r.output.message.content, stopReason: r.stopReason, usage: r.usage };

  const s = await client.send(new ConverseStreamCommand(input("hello")));
  out.events = [];
  for await (const event of s.stream) out.events.push(event);

  try {
    await client.send(new ConverseCommand(input("throttle me")));
  } catch (e) {
    out.error = { name: e.name, message: e.message, status: e.$metadata.httpStatusCode };
  }

  const m = await client.send(new ConverseStreamCommand(input("midstream")));
  out.midstream = { deltas: [] };
  try {
    for await (const event of m.stream) {
      if (event.contentBlockDelta) out.midstream.deltas.push(event.contentBlockDelta.delta.text);
    }
  } catch (e) {
    out.midstream.error = { name: e.name, message: e.message };
  }

  const body = JSON.stringify({
    anthropic_version: "bedrock-2023-05-31",
    max_tokens: 100,
    messages: [{ role: "user", content: "hello" }],
  });
  const iv = await client.send(new InvokeModelWithResponseStreamCommand({ modelId: `us.${MODEL}`, body }));
  out.contentType = iv.contentType;
  out.chunks = [];
  for await (const event of iv.body) out.chunks.push(JSON.parse(Buffer.from(event.chunk.bytes).toString("utf8")));

  client.destroy();
  process.stdout.write(JSON.stringify(out) + "\n");
}

main(process.argv[2]).catch((e) => {
  console.error(e);
  process.exit(1);
});
