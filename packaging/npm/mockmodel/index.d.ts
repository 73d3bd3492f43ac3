/** A fixture in the aimock format: `{ match: {...}, response: {...} }` (see the mockmodel README). */
export interface Fixture {
  match?: Record<string, unknown>;
  response: Record<string, unknown>;
  [key: string]: unknown;
}

/** A fixture file's content. */
export interface FixtureFile {
  fixtures: Fixture[];
}

export interface StartOptions {
  /** Paths (files or directories), fixture objects, `{fixtures: [...]}` documents, or a mix (order kept; first match wins). Default: the embedded fixtures. */
  fixtures?: string | URL | Fixture | FixtureFile | Array<string | URL | Fixture | FixtureFile>;
  /** Listen address (default 127.0.0.1). */
  host?: string;
  /** Listen port (default 0: a free port chosen by the OS). */
  port?: number;
  /** The mockmodel-server executable (default: $MOCKMODEL_SERVER_BIN, else the installed platform package's). */
  binary?: string;
  /** Extra command-line arguments. */
  args?: string[];
  /** Extra environment variables for the server (e.g. RUST_LOG). */
  env?: Record<string, string>;
  /** How long to wait for the server to listen and be ready (default 30000). */
  startupTimeoutMs?: number;
  /** Default X-Test-Id for headers(), openaiOptions(), instrumentAwsClient() and journal(). */
  testId?: string;
  /** Unanswered requests get 503 instead of 404. */
  strict?: boolean;
  /** Default characters per streamed chunk. */
  chunkSize?: number;
  /** Default delay in ms before every answer. */
  latencyMs?: number;
  /** Any other server flag, camelCase: `{ journalSize: 10 }` -> `--journal-size 10`; true -> bare flag; arrays repeat it. */
  [flag: string]: unknown;
}

/** One request the server answered (`GET /__mockmodel/journal`). */
export interface JournalEntry {
  timestampMs: number;
  protocol: "openai" | "bedrock" | "sagemaker" | string;
  operation: string;
  model: string;
  stream: boolean;
  userMessage: string | null;
  testId: string | null;
  /** `file#index` of the fixture that answered, or null when none matched. */
  fixture: string | null;
  /** `message`, `error <status>`, `embedding`, `no_match`, or `forwarded <status>` (an upstream answered). */
  outcome: string;
  /** The upstream an unmatched request was forwarded to (`--proxy-unmatched`, `--record`). */
  upstream?: string;
  /** The fixture file its answer was recorded into (`--record`), once written. */
  recorded?: string;
  /** Faults injected into the answer. */
  faults?: string[];
}

export interface MockModelEnv {
  AWS_ENDPOINT_URL_BEDROCK_RUNTIME: string;
  AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME: string;
  OPENAI_BASE_URL: string;
  OPENAI_API_KEY: string;
  ANTHROPIC_BASE_URL: string;
  ANTHROPIC_API_KEY: string;
  AWS_ACCESS_KEY_ID: string;
  AWS_SECRET_ACCESS_KEY: string;
  AWS_REGION: string;
  AWS_DEFAULT_REGION: string;
  AWS_EC2_METADATA_DISABLED: "true";
}

export interface AwsClientConfig {
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
}

/** Anything with an AWS SDK v3 middleware stack. */
export interface AwsSdkClientLike {
  middlewareStack: { add(middleware: unknown, options?: unknown): void };
}

export declare class MockModel {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** `<url>/v1`, for `new OpenAI({ baseURL })` and OPENAI_BASE_URL. */
  readonly openaiBaseUrl: string;
  /** For `new BedrockRuntimeClient({ endpoint })` and AWS_ENDPOINT_URL_BEDROCK_RUNTIME. */
  readonly bedrockEndpointUrl: string;
  /** For `new SageMakerRuntimeClient({ endpoint })` and AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME. */
  readonly sagemakerEndpointUrl: string;
  /** For the Anthropic SDK's `baseURL` and ANTHROPIC_BASE_URL. */
  readonly anthropicBaseUrl: string;
  readonly testId: string | undefined;
  /** The server's last log lines. */
  readonly log: string[];
  /** The watchdog process that owns the server. */
  readonly pid: number | undefined;
  env(): MockModelEnv;
  headers(testId?: string): Record<string, string>;
  openaiOptions(testId?: string): { baseURL: string; apiKey: string; defaultHeaders: Record<string, string> };
  awsClientConfig(): AwsClientConfig;
  instrumentAwsClient<T extends AwsSdkClientLike>(client: T, testId?: string): T;
  journal(options?: { testId?: string; unmatched?: boolean }): Promise<JournalEntry[]>;
  fixtures(): Promise<{ files: string[]; count: number; fixtures: unknown[]; warnings: string[] }>;
  reset(): Promise<void>;
  close(): Promise<void>;
}

/** Starts mockmodel-server on a free loopback port; resolves once it is ready. */
export declare function startMockModel(options?: StartOptions): Promise<MockModel>;
/** Path of the native executable this package would run. */
export declare function binaryPath(): string;
export declare const TEST_ID_HEADER: "X-Test-Id";
export declare const STATIC_CREDENTIALS: Readonly<{
  AWS_ACCESS_KEY_ID: string;
  AWS_SECRET_ACCESS_KEY: string;
  AWS_REGION: string;
  AWS_DEFAULT_REGION: string;
  AWS_EC2_METADATA_DISABLED: "true";
}>;
