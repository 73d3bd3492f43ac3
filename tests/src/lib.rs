//! End-to-end helpers: start the built mockmodel-server binary and drive it with real clients.
