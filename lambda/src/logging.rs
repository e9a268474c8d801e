//! Log output: one JSON object per line on standard output, which CloudWatch Logs stores and the
//! seed's `aws logs tail ... --filter-pattern ERROR` still matches (the level is a field value).
//!
//! Invariant: nothing logged carries a presigned URL, a signature or a token. The service logs
//! request ids, routes, modes, statuses, latencies and user ids only.
//!
//! `RUST_LOG` sets the level of the function's own lines, but every other crate is held at `info`
//! or above whatever it says, because below that they log what they carry: `lambda_runtime` logs
//! each raw event (with its `Authorization` header) at `trace`, `aws-sigv4` the requests it signs,
//! `aws-smithy-runtime` whole requests and responses (with the session token). A list of the crates
//! known to do so would miss the next one, so the list is of the crates allowed below `info`.

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::{EnvFilter, FilterExt, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, Registry};

/// The crates whose `debug` and `trace` lines `RUST_LOG` may turn on: this function's own, which
/// never log a secret at any level.
const OWN_TARGETS: [&str; 2] = ["ddn_presign", "ddn_api"];

/// The most detail any other crate may log.
const DEPENDENCY_LEVEL: LevelFilter = LevelFilter::INFO;

/// Installs the JSON logger. The level comes from `RUST_LOG` (default `info`), with crates other
/// than the function's own held at `info` or above. Calling it twice is harmless: the second call
/// does nothing.
pub fn init_json() {
    let rust_log = std::env::var(EnvFilter::DEFAULT_ENV).ok();
    let _ = Registry::default()
        .with(json_layer(rust_log.as_deref(), std::io::stdout))
        .try_init();
}

/// The function's log layer, writing to `writer`: the levels `rust_log` asks for (`RUST_LOG`
/// syntax; `info` when it is absent or malformed), within [`dependency_cap`].
pub fn json_layer<W>(rust_log: Option<&str>, writer: W) -> impl Layer<Registry>
where
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Send + Sync + 'static,
{
    let requested = rust_log
        .and_then(|directives| EnvFilter::try_new(directives).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_ansi(false)
        .with_writer(writer)
        .with_filter(requested.and(dependency_cap()))
}

/// Lets every level through for the function's own crates and at most [`DEPENDENCY_LEVEL`] for
/// the rest, whatever `RUST_LOG` asks for.
pub fn dependency_cap() -> Targets {
    OWN_TARGETS.into_iter().fold(
        Targets::new().with_default(DEPENDENCY_LEVEL),
        |targets, own| targets.with_target(own, LevelFilter::TRACE),
    )
}
