// Jest (CommonJS, no transform): the same package from a Jest suite; scripts/test-package.sh runs it.
const { startMockModel } = require("mockmodel");
const { BedrockRuntimeClient, ConverseCommand } = require("@aws-sdk/client-bedrock-runtime");

let mm;
beforeAll(async () => {
  mm = await startMockModel({ fixtures: [{ match: { userMessage: "hello" }, response: { content: "Hello from Jest." } }] });
});
afterAll(() => mm.close());

test("AWS SDK v3 Converse through the mock", async () => {
  const client = mm.instrumentAwsClient(new BedrockRuntimeClient(mm.awsClientConfig()), expect.getState().currentTestName);
  const r = await client.send(new ConverseCommand({ modelId: "anthropic.claude-3-haiku-20240307-v1:0", messages: [{ role: "user", content: [{ text: "hello" }] }] }));
  expect(r.output.message.content[0].text).toBe("Hello from Jest.");
  expect((await mm.journal({ testId: expect.getState().currentTestName })).length).toBe(1);
  client.destroy();
});
