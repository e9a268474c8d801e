# shellcheck shell=bash
# Part of lib.sh: building the package. The release `bootstrap` for DDN_LAMBDA_ARCH, the check
# that Amazon Linux 2023 can run it, and its zip.
#
# Variables set here are read by the scripts that source lib.sh.
# shellcheck disable=SC2034

# The highest glibc symbol version the Lambda runtime provided.al2023 has (Amazon Linux 2023).
AL2023_GLIBC=2.34

# ---------------------------------------------------------------------------------------------
# Building the package.

# The Cargo target folder shared by the workspace.
cargo_target_dir() {
  if [ -n "${CARGO_TARGET_DIR:-}" ]; then
    printf '%s\n' "$CARGO_TARGET_DIR"
  else
    "${CARGO:-cargo}" metadata --no-deps --format-version 1 --manifest-path "$REPO_ROOT/Cargo.toml" |
      json_get target_directory
  fi
}

# Builds the release `bootstrap` for DDN_LAMBDA_ARCH and zips it; sets PACKAGE_ZIP.
#
# x86_64 on an x86_64 Linux host is a plain `cargo build`. Anything else (arm64, or building on
# macOS) needs cargo-lambda (https://www.cargo-lambda.info), which cross-compiles with Zig.
build_package() {
  require_commands python3
  local host_arch target_dir binary
  host_arch=$(uname -m)
  target_dir=$(cargo_target_dir)
  if [ "$(uname -s)" = Linux ] && [ "$host_arch" = "$DDN_LAMBDA_ARCH" ]; then
    require_commands "${CARGO:-cargo}"
    step "building bootstrap (release, $DDN_LAMBDA_ARCH)"
    "${CARGO:-cargo}" build --release --locked --manifest-path "$REPO_ROOT/Cargo.toml" \
      -p ddn-presign --bin bootstrap
    binary="$target_dir/release/bootstrap"
  elif "${CARGO:-cargo}" lambda --version >/dev/null 2>&1; then
    step "building bootstrap with cargo lambda (release, $DDN_LAMBDA_ARCH)"
    local flag=--x86-64
    [ "$DDN_LAMBDA_ARCH" = arm64 ] && flag=--arm64
    (cd "$REPO_ROOT" && "${CARGO:-cargo}" lambda build --release --locked "$flag" -p ddn-presign --bin bootstrap)
    binary="$target_dir/lambda/bootstrap/bootstrap"
  else
    die "building for $DDN_LAMBDA_ARCH on $(uname -s) $host_arch needs cargo-lambda: pip install cargo-lambda (or see https://www.cargo-lambda.info), or set DDN_LAMBDA_ARCH=$host_arch"
  fi
  [ -x "$binary" ] || die "the build did not produce $binary"
  check_glibc "$binary"

  mkdir -p "$target_dir/deploy"
  PACKAGE_ZIP="$target_dir/deploy/ddn-presign-$DDN_LAMBDA_ARCH.zip"
  # A fixed date and mode make the archive depend on the binary alone, so deploying an unchanged
  # build changes nothing (same CodeSha256).
  ddn_deploy package-zip "$binary" "$PACKAGE_ZIP"
  note "package: $PACKAGE_ZIP ($(wc -c <"$PACKAGE_ZIP" | tr -d ' ') bytes)"
}

# Stops when the binary needs a newer glibc than Amazon Linux 2023 has (it would fail every cold
# start with "GLIBC_2.xx not found"). A static binary needs none.
check_glibc() {
  if ! command -v objdump >/dev/null 2>&1; then
    warn "objdump not found (package binutils): cannot check the glibc version $1 needs"
    return 0
  fi
  local needed
  needed=$(objdump -T "$1" 2>/dev/null | grep -Eo 'GLIBC_[0-9]+(\.[0-9]+)+' | sed 's/GLIBC_//' | sort -uV | tail -n 1 || true)
  if [ -z "$needed" ]; then
    note "bootstrap needs no glibc symbols (static)"
    return 0
  fi
  if [ "$(printf '%s\n%s\n' "$needed" "$AL2023_GLIBC" | sort -V | tail -n 1)" != "$AL2023_GLIBC" ]; then
    die "bootstrap needs glibc $needed but provided.al2023 has $AL2023_GLIBC: build with cargo lambda (which targets an older glibc) or on Amazon Linux 2023"
  fi
  note "bootstrap needs glibc $needed at most (provided.al2023 has $AL2023_GLIBC)"
}
