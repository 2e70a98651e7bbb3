//! End-to-end tests: the real `supervise` binary, real filters on real processes, the `probe` helper and real
//! programs. One integration-test binary, one module per topic; shared helpers in `support`.

mod foundation;
mod paths;
mod prompt;
mod support;
