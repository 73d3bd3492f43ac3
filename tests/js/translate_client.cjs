// The AWS SDK for JavaScript v3 Bedrock Runtime client (its default HTTP/2 handler, h2c) against a
// translating mockmodel-server (--upstream-openai): a ConverseStream tool round trip.
// Usage: node translate_client.cjs http://127.0.0.1:PORT
// Prints what the SDK parsed as one JSON object; tests/python/test_translate.py asserts on it.
"use strict";
const { BedrockRuntimeClient, ConverseStreamCommand } = require("@aws-sdk/client-bedrock-runtime");

const MODEL = "anthropic.claude-3-haiku-20240307-v1:0";
const toolConfig = {
  tools: [
    {
      toolSpec: {
        name: "get_weather",
        description: "Current weather of a city",
        inputSchema: { json: { type: "object", properties: { city: { type: "string" } } } },
      },
    },
  ],
};

async function turn(client, messages) {
  const s = await client.send(new ConverseStreamCommand({ modelId: MODEL, messages, toolConfig }));
  const out = { text: "", input: "" };
  for await (const event of s.stream) {
    if (event.contentBlockStart) out.toolUse = event.contentBlockStart.start.toolUse;
    const delta = event.contentBlockDelta && event.contentBlockDelta.delta;
    if (delta && delta.text) out.text += delta.text;
    if (delta && delta.toolUse) out.input += delta.toolUse.input;
    if (event.messageStop) out.stopReason = event.messageStop.stopReason;
    if (event.metadata) out.usage = event.metadata.usage;
  }
  return out;
}

async function main(endpoint) {
  const client = new BedrockRuntimeClient({
    endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
    maxAttempts: 1,
  });
  const messages = [{ role: "user", content: [{ text: "JS: the weather in Paris?" }] }];
  const call = await turn(client, messages);
  messages.push({ role: "assistant", content: [{ toolUse: { ...call.toolUse, input: JSON.parse(call.input) } }] });
  messages.push({
    role: "user",
    content: [{ toolResult: { toolUseId: call.toolUse.toolUseId, content: [{ text: "sunny, 22C" }] } }],
  });
  const answer = await turn(client, messages);
  console.log(JSON.stringify({ handler: client.config.requestHandler.constructor.name, call, answer }));
}

main(process.argv[2]).catch((e) => {
  console.error(e);
  process.exit(1);
});
