//! Large files on an ordinary network: `ddn upload` in parallel parts and `ddn download` in
//! parallel ranges, side by side with one `curl -T` and one `curl` GET of the same file, in the
//! same run, through a shaping proxy that gives the S3 server a distant server's delay (20 ms each
//! way) and a per-connection rate (25 MiB/s), as real S3 has; and the peak resident memory of
//! `ddn` at 4 and 8 parts in flight and for a 20 GiB sparse file.
//!
//! Run with `cargo bench -p ddn-cli --bench multipart`. `DDN_BENCH_MULTIPART_MIB` sets the file
//! (default 2048), `DDN_BENCH_SPARSE_GIB` the sparse file (default 20; 0 skips it),
//! `DDN_BENCH_DIR` where the files and the S3 server's folder go (they need about three times the
//! file plus the sparse file's size). Needs `curl`. Nothing is pinned to cores: the shaped line is
//! the limit.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::PathBuf;
use std::time::Duration;

use ddn_testkit::samples::write_sample_file;
use ddn_testkit::shaping_proxy::Shape;
use support::{
    MIB, Pinning, Run, Server, assert_same_size, ddn, presign, rate, run_measured, wait_for_result,
};

/// What real S3 looks like from an ordinary connection: a distant server's delay, and a rate per
/// connection that one stream cannot exceed.
const SHAPE: Shape = Shape {
    delay: Duration::from_millis(20),
    bytes_per_second: 25 * MIB,
};

fn main() {
    if support::serve_if_asked() {
        return;
    }
    let size_mib: u64 = env_number("DDN_BENCH_MULTIPART_MIB", 2048);
    let sparse_gib: u64 = env_number("DDN_BENCH_SPARSE_GIB", 20);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let work = tempfile::Builder::new()
        .prefix("ddn-bench-multipart-")
        .tempdir_in(
            std::env::var_os("DDN_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from),
        )
        .unwrap();
    // The line is the limit here, not a core: pinned to one core, the server (S3 with its digests,
    // the proxy) became the bottleneck before the line did.
    let pinning = Pinning::none();
    let server = Server::start(&work.path().join("s3"), &pinning, Some(SHAPE));
    println!("{}", pinning.describe());
    println!(
        "S3 behind a shaping proxy: {} ms each way, {} MiB/s per connection.",
        SHAPE.delay.as_millis(),
        SHAPE.bytes_per_second / MIB
    );
    println!();

    let bytes = size_mib * MIB;
    let source = work.path().join("source.bin");
    write_sample_file(&source, bytes, size_mib).unwrap();
    let linked = |name: &str| {
        let path = work.path().join(name);
        std::fs::hard_link(&source, &path).unwrap();
        path
    };

    println!("| {size_mib} MiB file | wall s | MiB/s | CPU s | peak RSS MiB |");
    println!("| --- | --- | --- | --- | --- |");
    let row = |what: &str, run: &Run| {
        println!(
            "| {what} | {:.1} | {:.1} | {:.2} | {:.1} |",
            run.wall.as_secs_f64(),
            rate(bytes, run.wall),
            run.cpu.as_secs_f64(),
            run.peak_rss as f64 / MIB as f64
        );
    };

    let parts4 = linked("parts-4.bin");
    let ddn_up4 = run_measured(
        ddn(&server, &pinning)
            .args(["upload", "--parts", "4"])
            .arg(&parts4),
    );
    row("ddn upload, 4 parts in flight", &ddn_up4);
    let parts8 = linked("parts-8.bin");
    let ddn_up8 = run_measured(
        ddn(&server, &pinning)
            .args(["upload", "--parts", "8"])
            .arg(&parts8),
    );
    row("ddn upload, 8 parts in flight", &ddn_up8);

    let grant = presign(&runtime, &server, "curl.bin", Some(bytes));
    let mut curl_put = pinning.client_command("curl");
    curl_put.args(["-sS", "--fail", "-o", "/dev/null"]);
    for (header, value) in &grant.headers {
        curl_put.arg("-H").arg(format!("{header}: {value}"));
    }
    let curl_up = run_measured(curl_put.arg("-T").arg(&source).arg(&grant.url));
    row("curl -T, one stream", &curl_up);

    wait_for_result(&runtime, &server, "parts-4.bin");
    let out = work.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let ddn_down = run_measured(
        ddn(&server, &pinning)
            .args(["download", "parts-4.bin", "-o"])
            .arg(&out),
    );
    row("ddn download, ranges in parallel", &ddn_down);
    assert_same_size(&out.join("parts-4.bin"), bytes);
    std::fs::remove_file(out.join("parts-4.bin")).unwrap();
    let url = presign(&runtime, &server, "parts-4.bin", None).url;
    let curl_down = run_measured(
        pinning
            .client_command("curl")
            .args(["-sS", "--fail", "-o"])
            .arg(out.join("curl.bin"))
            .arg(&url),
    );
    row("curl GET, one stream", &curl_down);
    assert_same_size(&out.join("curl.bin"), bytes);
    std::fs::remove_dir_all(&out).unwrap();
    for path in [&parts4, &parts8, &source] {
        std::fs::remove_file(path).unwrap();
    }
    println!();
    println!(
        "Speed-up over one curl stream: upload {:.2}x (4 parts), {:.2}x (8 parts); download {:.2}x.",
        curl_up.wall.as_secs_f64() / ddn_up4.wall.as_secs_f64(),
        curl_up.wall.as_secs_f64() / ddn_up8.wall.as_secs_f64(),
        curl_down.wall.as_secs_f64() / ddn_down.wall.as_secs_f64(),
    );

    if sparse_gib > 0 {
        // Sparse: the file system hands back zeros without reading a disk, so the figure is the
        // engine's own cost (hashing, buffers, requests); the S3 server still stores every byte.
        let sparse_bytes = sparse_gib * 1024 * MIB;
        let sparse = work.path().join("sparse.bin");
        std::fs::File::create(&sparse)
            .unwrap()
            .set_len(sparse_bytes)
            .unwrap();
        let run = run_measured(
            ddn(&server, &pinning)
                .args(["upload", "--parts", "8"])
                .arg(&sparse),
        );
        println!();
        println!(
            "{sparse_gib} GiB sparse file, 8 parts in flight: {:.1} s, {:.1} MiB/s, CPU {:.1} s, peak RSS {:.1} MiB.",
            run.wall.as_secs_f64(),
            rate(sparse_bytes, run.wall),
            run.cpu.as_secs_f64(),
            run.peak_rss as f64 / MIB as f64
        );
    }
    drop(server);
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
