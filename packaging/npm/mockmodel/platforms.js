"use strict";
// The platform packages holding the native mockmodel-server binary, by `${platform}-${arch}[-libc]`.
// scripts/package.sh builds the one for the current machine; the main package's optionalDependencies
// list the ones built, and npm installs only the one whose os/cpu/libc match.
const PLATFORMS = {
  "linux-x64-gnu": "@mockmodel/linux-x64-gnu",
  "linux-arm64-gnu": "@mockmodel/linux-arm64-gnu",
  "linux-x64-musl": "@mockmodel/linux-x64-musl",
  "linux-arm64-musl": "@mockmodel/linux-arm64-musl",
  "darwin-x64": "@mockmodel/darwin-x64",
  "darwin-arm64": "@mockmodel/darwin-arm64",
  "win32-x64": "@mockmodel/win32-x64-msvc",
};

function platformKey(platform = process.platform, arch = process.arch) {
  if (platform !== "linux") return `${platform}-${arch}`;
  let glibc = false;
  try {
    glibc = Boolean(process.report.getReport().header.glibcVersionRuntime);
  } catch {
    glibc = true;
  }
  return `${platform}-${arch}-${glibc ? "gnu" : "musl"}`;
}

module.exports = { PLATFORMS, platformKey };
