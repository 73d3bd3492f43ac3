// Vitest: the same package from a Vitest suite; scripts/test-package.sh runs it with `vitest run`.
import { afterAll, beforeAll, expect, test } from "vitest";
import OpenAI from "openai";
import { startMockModel } from "mockmodel";

let mm;
beforeAll(async () => {
  mm = await startMockModel({
    fixtures: [{ match: { userMessage: "hello" }, response: { content: "Hello from Vitest." } }],
    chunkSize: 6,
  });
});
afterAll(() => mm.close());

test("openai streaming through the mock", async ({ task }) => {
  const client = new OpenAI(mm.openaiOptions(task.name));
  const stream = await client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "hello" }], stream: true });
  const deltas = [];
  for await (const chunk of stream) if (chunk.choices[0]?.delta?.content) deltas.push(chunk.choices[0].delta.content);
  expect(deltas.join("")).toBe("Hello from Vitest.");
  expect(deltas[0]).toBe("Hello ");
  const journal = await mm.journal({ testId: task.name });
  expect(journal.map((e) => [e.operation, e.stream])).toEqual([["chat.completions", true]]);
});
