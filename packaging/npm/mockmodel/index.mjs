import cjs from "./index.js";

export const { startMockModel, binaryPath, MockModel, TEST_ID_HEADER, STATIC_CREDENTIALS } = cjs;
export default cjs;
