// Type-checked (tsc --noEmit --strict) against the package's index.d.ts by scripts/test-package.sh; never run.
import { startMockModel, TEST_ID_HEADER, type JournalEntry, type MockModel } from "mockmodel";

const mm: MockModel = await startMockModel({
  fixtures: ["./fixtures", { match: { userMessage: "hi" }, response: { content: "x" } }],
  chunkSize: 4,
  strict: true,
  testId: "t1",
});
const urls: string[] = [mm.url, mm.openaiBaseUrl, mm.bedrockEndpointUrl, mm.sagemakerEndpointUrl, mm.anthropicBaseUrl];
const imds: "true" = mm.env().AWS_EC2_METADATA_DISABLED;
const header: "X-Test-Id" = TEST_ID_HEADER;
const openaiOptions: { baseURL: string; apiKey: string } = mm.openaiOptions("t2");
const entries: JournalEntry[] = await mm.journal({ unmatched: true });
const fixture: string | null = entries[0].fixture;
const client = mm.instrumentAwsClient({ middlewareStack: { add() {} } }, "t3");
await mm.reset();
await mm.close();
// @ts-expect-error fixtures are paths or fixture objects
await startMockModel({ fixtures: 42 });
// @ts-expect-error a fixture needs a response
await startMockModel({ fixtures: [{ match: { userMessage: "x" } }] });
export { urls, imds, header, openaiOptions, fixture, client };
