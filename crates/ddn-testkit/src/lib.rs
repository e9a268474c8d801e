//! What the project's tests and benchmarks share, and nothing users run (a dev-dependency only):
//!
//! - [`s3`]: objects on the local stack's S3 server put, read and listed, presign API requests and
//!   presigned uploads as a client makes them;
//! - [`fault_proxy`]: a TCP proxy that cuts, stalls, delays or refuses connections on purpose;
//! - [`shaping_proxy`]: a TCP proxy with a distant server's delay and a per-connection rate, for
//!   the benchmarks, counting the bytes it carried;
//! - [`runtime_emulator`]: the Lambda Runtime API, so the real `bootstrap` binary runs locally;
//! - [`http`]: small HTTP test servers (fake services, update servers);
//! - [`session_keyring`]: a private D-Bus session with an unlocked GNOME Keyring, and what it
//!   holds read back with `secret-tool`;
//! - [`display`] and [`desktop`]: a private X display, and the whole private desktop (stack,
//!   keyring, display) the window tests run the app on;
//! - [`samples`]: deterministic, incompressible test data from a seed.
//!
//! Every server here binds loopback and accepts through the stack's one accept loop,
//! [`loopback`] (re-exported from `ddn-localstack`), which logs a failed accept and backs off.

pub mod desktop;
pub mod display;
pub mod fault_proxy;
pub mod http;
pub mod runtime_emulator;
pub mod s3;
pub mod samples;
pub mod session_keyring;
pub mod shaping_proxy;

pub use ddn_localstack::loopback;
