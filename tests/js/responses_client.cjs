// Drives the openai npm package's Responses API against mockmodel-server (base URL in argv[2]) and
// prints what it parsed as JSON, for tests/python/test_responses.py to assert.
const OpenAI = require("openai");

async function main() {
  const client = new OpenAI({ baseURL: process.argv[2] + "/v1", apiKey: "test", maxRetries: 0 });
  const created = await client.responses.create({ model: "gpt-4o", input: "resp plain" });
  const events = [];
  const stream = await client.responses.create({ model: "gpt-4o", input: "resp plain", stream: true });
  for await (const event of stream) events.push(event);
  const helper = client.responses.stream({ model: "gpt-4o", input: "resp forecast" });
  const final = await helper.finalResponse();
  let error = null;
  try {
    await client.responses.create({ model: "gpt-4o", input: "resp ratelimit" });
  } catch (e) {
    error = { name: e.constructor.name, status: e.status };
  }
  console.log(JSON.stringify({
    text: created.output_text,
    status: created.status,
    usage: created.usage,
    types: events.map((e) => e.type),
    sequence: events.map((e) => e.sequence_number),
    deltas: events.filter((e) => e.type === "response.output_text.delta").map((e) => e.delta),
    call: final.output.find((o) => o.type === "function_call"),
    error,
  }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
