//! Log output: one JSON object per line on standard output, which CloudWatch Logs stores and the
//! seed's `aws logs tail ... --filter-pattern ERROR` still matches (the level is a field value).
//!
//! Invariant: nothing logged carries a presigned URL, a signature or a token. The service logs
//! request ids, routes, modes, statuses, latencies and user ids only.

use tracing_subscriber::EnvFilter;

/// Installs the JSON logger. The level comes from `RUST_LOG` (default `info`). Calling it twice is
/// harmless: the second call does nothing.
pub fn init_json() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init();
}
