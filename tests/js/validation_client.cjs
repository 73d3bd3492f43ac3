// The AWS SDK for JavaScript v3 Bedrock Runtime client sending requests Bedrock rejects (a range,
// a type, a family body schema), against mockmodel-server. Usage: node validation_client.cjs URL
// Prints each modelled exception the SDK raised (name, message, status) as one JSON object;
// tests/python/test_api_validation.py asserts on it.
"use strict";
const { BedrockRuntimeClient, ConverseCommand, InvokeModelCommand } = require("@aws-sdk/client-bedrock-runtime");

const CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0";

async function failure(client, command) {
  try {
    await client.send(command);
    return { name: "no error" };
  } catch (e) {
    return { name: e.name, message: e.message, status: e.$metadata.httpStatusCode, fault: e.$fault };
  }
}

async function main(endpoint) {
  const client = new BedrockRuntimeClient({
    endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
    maxAttempts: 1,
  });
  const messages = [{ role: "user", content: [{ text: "hello" }] }];
  const out = {};
  out.temperature = await failure(
    client,
    new ConverseCommand({ modelId: CLAUDE, messages, inferenceConfig: { temperature: 5 } }),
  );
  out.maxTokens = await failure(
    client,
    new ConverseCommand({ modelId: CLAUDE, messages, inferenceConfig: { maxTokens: 0 } }),
  );
  const invoke = (modelId, body) =>
    failure(client, new InvokeModelCommand({ modelId, contentType: "application/json", body: JSON.stringify(body) }));
  out.claudeType = await invoke(CLAUDE, {
    anthropic_version: "bedrock-2023-05-31",
    max_tokens: "100",
    messages: [{ role: "user", content: "hello" }],
  });
  out.novaRange = await invoke("amazon.nova-lite-v1:0", {
    schemaVersion: "messages-v1",
    messages,
    inferenceConfig: { temperature: 5 },
  });
  client.destroy();
  process.stdout.write(JSON.stringify(out) + "\n");
}

main(process.argv[2]).catch((e) => {
  console.error(e);
  process.exit(1);
});
