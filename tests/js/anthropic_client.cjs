// The Anthropic SDK for TypeScript/JavaScript (@anthropic-ai/sdk), unchanged apart from its baseURL,
// against mockmodel-server. Usage: node anthropic_client.cjs http://127.0.0.1:PORT
// Prints what the SDK parsed as one JSON object; tests/python/test_anthropic.py asserts on it.
// CommonJS on purpose: require() honours NODE_PATH, so the cached node_modules can live outside the repo.
"use strict";
const sdk = require("@anthropic-ai/sdk");
const Anthropic = sdk.Anthropic || sdk.default || sdk;

const MODEL = "claude-sonnet-4-5";
const ask = (text) => ({ model: MODEL, max_tokens: 256, messages: [{ role: "user", content: text }] });

async function main(baseURL) {
  const client = new Anthropic({ baseURL, apiKey: "test-key", maxRetries: 0 });
  const out = {};

  const m = await client.messages.create(ask("claude hello"));
  out.create = { content: m.content, stop_reason: m.stop_reason, usage: m.usage };

  const stream = client.messages.stream(ask("claude hello"));
  out.deltas = [];
  stream.on("text", (t) => out.deltas.push(t));
  const final = await stream.finalMessage();
  out.final = { content: final.content, stop_reason: final.stop_reason };

  const tools = [{ name: "get_weather", input_schema: { type: "object", properties: { city: { type: "string" } } } }];
  const t = await client.messages.create({ ...ask("claude weather in Paris?"), tools });
  out.tool = { name: t.content[0].name, input: t.content[0].input, stop_reason: t.stop_reason };

  try {
    await client.messages.create(ask("claude throttle"));
  } catch (e) {
    out.error = { name: e.constructor.name, status: e.status };
  }
  process.stdout.write(JSON.stringify(out));
}

main(process.argv[2]).catch((e) => {
  console.error(e);
  process.exit(1);
});
