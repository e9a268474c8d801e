# shellcheck shell=bash
# Shared by the numbered deploy scripts: settings, checks, AWS CLI helpers, the policy documents,
# the build, and the calls a client makes.
#
# Settings come from the environment, then from the .env file (DDN_ENV_FILE, default: .env beside
# this file); a variable already set in the environment wins over the file. Nothing here prints a
# token, a token hash or a presigned URL.
#
# Variables set here are read by the scripts that source this file.
# shellcheck disable=SC2034

if [ -z "${BASH_VERSINFO[0]:-}" ] || [ "${BASH_VERSINFO[0]}" -lt 4 ]; then
  echo "error: these scripts need bash 4 or newer (on macOS: brew install bash)" >&2
  exit 1
fi

DEPLOY_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$DEPLOY_DIR/../.." && pwd)

# Tag put on everything the scripts create, so it can be found (and billed) as one application.
DDN_TAG_KEY=app
DDN_TAG_VALUE=ddn-transfer
# Names of the pieces the scripts own inside shared resources.
ROLE_POLICY_NAME=ddn-presign-access
BUCKET_TLS_SID=DenyInsecureTransport
LIFECYCLE_RULE_ID=ddn-abort-incomplete-multipart-uploads
# The routes the HTTP API sends to the function.
API_ROUTES=("GET /presign" "GET /results")
# The HTTP API's stage that serves the API's root address; its name really is "$default".
# shellcheck disable=SC2016
DEFAULT_STAGE='$default'
# The highest glibc symbol version the Lambda runtime provided.al2023 has (Amazon Linux 2023).
AL2023_GLIBC=2.34

die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}
warn() { printf 'warning: %s\n' "$*" >&2; }
step() { printf '==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }

# A failing command outside a condition stops the script; say which one (the command as written,
# so no expanded secret can appear).
trap 'printf "error: failed (status %s) at %s line %s: %s\n" "$?" "$(basename "$0")" "$LINENO" "$BASH_COMMAND" >&2' ERR
set -E

WORK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/ddn-deploy.XXXXXX")
trap 'rm -rf "$WORK_DIR"' EXIT

require_commands() {
  local command
  for command in "$@"; do
    command -v "$command" >/dev/null 2>&1 || case "$command" in
      aws) die "the AWS CLI (aws) is not installed: see https://docs.aws.amazon.com/cli/ or run 'pip install awscli'" ;;
      cargo) die "cargo is not installed: install Rust 1.94 or newer (https://rustup.rs)" ;;
      *) die "$command is not installed" ;;
    esac
  done
}

# Reads NAME=VALUE lines of the .env file into the environment, without overriding variables that
# are already set and without running anything in it (no shell expansion: the file is data).
load_env_file() {
  local file=${DDN_ENV_FILE:-$DEPLOY_DIR/.env}
  if [ ! -e "$file" ]; then
    [ -z "${DDN_ENV_FILE:-}" ] || die "DDN_ENV_FILE=$file does not exist"
    return 0
  fi
  local line name value number=0
  while IFS= read -r line || [ -n "$line" ]; do
    number=$((number + 1))
    line=${line%$'\r'}
    [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
    line=${line#export }
    [[ $line =~ ^[[:space:]]*([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]] ||
      die "$file line $number is not NAME=VALUE"
    name=${BASH_REMATCH[1]}
    value=${BASH_REMATCH[2]}
    if [[ $value =~ ^\"(.*)\"[[:space:]]*$ || $value =~ ^\'(.*)\'[[:space:]]*$ ]]; then
      value=${BASH_REMATCH[1]}
    else
      value=${value%%[[:space:]]#*}
      value=${value%"${value##*[![:space:]]}"}
    fi
    [ -n "${!name+set}" ] || export "$name=$value"
  done <"$file"
}

# Loads and checks every setting, with the defaults documented in .env.example. Makes no AWS call.
load_settings() {
  load_env_file
  export AWS_REGION=${AWS_REGION:-${AWS_DEFAULT_REGION:-}}
  # The AWS CLI v1 reads the region from AWS_DEFAULT_REGION only; never page output.
  [ -z "$AWS_REGION" ] || export AWS_DEFAULT_REGION=$AWS_REGION
  export AWS_PAGER=""

  DDN_IN_BUCKET=${DDN_IN_BUCKET:-ddn-in-bucket}
  DDN_OUT_BUCKET=${DDN_OUT_BUCKET:-ddn-out-bucket}
  DDN_LAMBDA_ROLE=${DDN_LAMBDA_ROLE:-ddn-presign-lambda-role}
  DDN_LAMBDA_FUNC_NAME=${DDN_LAMBDA_FUNC_NAME:-ddn-presign-lambda}
  DDN_LAMBDA_ARCH=${DDN_LAMBDA_ARCH:-x86_64}
  DDN_LAMBDA_MEMORY_MB=${DDN_LAMBDA_MEMORY_MB:-128}
  DDN_LAMBDA_TIMEOUT_SECONDS=${DDN_LAMBDA_TIMEOUT_SECONDS:-10}
  DDN_LAMBDA_RESERVED_CONCURRENCY=${DDN_LAMBDA_RESERVED_CONCURRENCY:-}
  DDN_API_NAME=${DDN_API_NAME:-ddn-presign-api}
  DDN_API_THROTTLE_RATE=${DDN_API_THROTTLE_RATE:-50}
  DDN_API_THROTTLE_BURST=${DDN_API_THROTTLE_BURST:-100}
  DDN_LOG_RETENTION_DAYS=${DDN_LOG_RETENTION_DAYS:-30}
  DDN_ABORT_MULTIPART_DAYS=${DDN_ABORT_MULTIPART_DAYS:-3}
  DDN_AUTH=${DDN_AUTH:-token}
  DDN_TOKENS=${DDN_TOKENS:-}
  DDN_CONFIRM_OPEN_ACCESS=${DDN_CONFIRM_OPEN_ACCESS:-}
  DDN_URL_TTL_SECONDS=${DDN_URL_TTL_SECONDS:-3600}
  DDN_REQUIRE_SIZE=${DDN_REQUIRE_SIZE:-false}
  RUST_LOG=${RUST_LOG:-info}

  check_bucket_name DDN_IN_BUCKET "$DDN_IN_BUCKET"
  check_bucket_name DDN_OUT_BUCKET "$DDN_OUT_BUCKET"
  [ "$DDN_IN_BUCKET" != "$DDN_OUT_BUCKET" ] || die "DDN_IN_BUCKET and DDN_OUT_BUCKET must differ"
  [[ $DDN_LAMBDA_ROLE =~ ^[A-Za-z0-9+=,.@_-]{1,64}$ ]] ||
    die "DDN_LAMBDA_ROLE=$DDN_LAMBDA_ROLE is not an IAM role name (1 to 64 of A-Z a-z 0-9 +=,.@_-)"
  [[ $DDN_LAMBDA_FUNC_NAME =~ ^[A-Za-z0-9_-]{1,64}$ ]] ||
    die "DDN_LAMBDA_FUNC_NAME=$DDN_LAMBDA_FUNC_NAME is not a function name (1 to 64 of A-Z a-z 0-9 _-)"
  [[ $DDN_API_NAME =~ ^[A-Za-z0-9._-]{1,128}$ ]] ||
    die "DDN_API_NAME=$DDN_API_NAME must be 1 to 128 of A-Z a-z 0-9 . _ -"
  case "$DDN_LAMBDA_ARCH" in
    x86_64 | arm64) ;;
    *) die "DDN_LAMBDA_ARCH must be x86_64 or arm64, got $DDN_LAMBDA_ARCH" ;;
  esac
  check_number DDN_LAMBDA_MEMORY_MB "$DDN_LAMBDA_MEMORY_MB" 128 10240
  check_number DDN_LAMBDA_TIMEOUT_SECONDS "$DDN_LAMBDA_TIMEOUT_SECONDS" 1 900
  [ -z "$DDN_LAMBDA_RESERVED_CONCURRENCY" ] ||
    check_number DDN_LAMBDA_RESERVED_CONCURRENCY "$DDN_LAMBDA_RESERVED_CONCURRENCY" 0 100000
  check_number DDN_API_THROTTLE_RATE "$DDN_API_THROTTLE_RATE" 1 100000
  check_number DDN_API_THROTTLE_BURST "$DDN_API_THROTTLE_BURST" 1 100000
  check_number DDN_ABORT_MULTIPART_DAYS "$DDN_ABORT_MULTIPART_DAYS" 1 365
  case "$DDN_LOG_RETENTION_DAYS" in
    1 | 3 | 5 | 7 | 14 | 30 | 60 | 90 | 120 | 150 | 180 | 365 | 400 | 545 | 731 | 1096 | 1827 | 2192 | 2557 | 2922 | 3288 | 3653) ;;
    *) die "DDN_LOG_RETENTION_DAYS=$DDN_LOG_RETENTION_DAYS is not a retention CloudWatch Logs offers (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, ...)" ;;
  esac
  check_number DDN_URL_TTL_SECONDS "$DDN_URL_TTL_SECONDS" 1 604800
  case "$DDN_REQUIRE_SIZE" in
    true | false) ;;
    *) die "DDN_REQUIRE_SIZE must be true or false, got $DDN_REQUIRE_SIZE" ;;
  esac
  FUNCTION_LOG_GROUP="/aws/lambda/$DDN_LAMBDA_FUNC_NAME"
  API_LOG_GROUP="/aws/apigateway/$DDN_API_NAME"
}

# Makes sure the AWS CLI, a region and the account are known (asking STS for the account when
# ACCOUNT_ID is not set).
require_aws() {
  require_commands aws python3
  [ -n "$AWS_REGION" ] || die "AWS_REGION is not set (for example AWS_REGION=eu-west-1 in .env)"
  [[ $AWS_REGION =~ ^[a-z]{2}(-[a-z]+)+-[0-9]+$ ]] || die "AWS_REGION=$AWS_REGION is not a region name"
  if [ -z "${ACCOUNT_ID:-}" ]; then
    ACCOUNT_ID=$(aws sts get-caller-identity --query Account --output text) ||
      die "cannot find the AWS account: are credentials configured? (aws sts get-caller-identity failed)"
  fi
  [[ $ACCOUNT_ID =~ ^[0-9]{12}$ ]] || die "ACCOUNT_ID=$ACCOUNT_ID is not a 12-digit AWS account id"
  [ -z "${AWS_ENDPOINT_URL:-}" ] || note "AWS endpoint: $AWS_ENDPOINT_URL"
  ROLE_ARN="arn:aws:iam::$ACCOUNT_ID:role/$DDN_LAMBDA_ROLE"
}

# The function's own settings, checked the way the function checks them at start, so a mistake
# stops the deployment instead of every cold start. Open access is deployed only when
# DDN_CONFIRM_OPEN_ACCESS=yes says that it is meant.
check_function_settings() {
  case "$DDN_AUTH" in
    token) check_token_entries ;;
    none)
      [ "$DDN_CONFIRM_OPEN_ACCESS" = yes ] ||
        die "DDN_AUTH=none gives presigned URLs to anyone who knows the API address (every caller is the user 'anonymous'): to deploy that, also set DDN_CONFIRM_OPEN_ACCESS=yes; otherwise set DDN_AUTH=token and DDN_TOKENS"
      warn "DDN_AUTH=none (confirmed by DDN_CONFIRM_OPEN_ACCESS=yes): anyone who knows the API address gets presigned URLs (every caller is the user 'anonymous')"
      ;;
    *) die "DDN_AUTH must be token or none, got $DDN_AUTH" ;;
  esac
}

# Checks DDN_TOKENS by the function's own rule (TokenTable::parse in lambda/src/auth.rs; both are
# tested against the cases in lambda/tests/data/token_entries.json), so an entry accepted here
# never stops a cold start. Entries are separated by commas. Each is trimmed of the whitespace
# around it (space, tab, LF, CR, VT, FF) and skipped when nothing is left; what remains must be
# user:sha256hex with no whitespace inside, the user id 1 to 64 of A-Z a-z 0-9 - _, the hash 64 hex
# digits in either case, and no hash may appear twice. Entries are numbered from 1, skipped ones
# not counted; a message names an entry by its number, never by its content.
# Sets TOKEN_ENTRIES to the trimmed entries, in order.
TOKEN_ENTRIES=()
check_token_entries() {
  # Byte-wise classes: [[:space:]] is exactly the six characters above.
  local LC_ALL=C
  local rest=$DDN_TOKENS piece entry user hash number=0 last=0
  local -A seen=()
  TOKEN_ENTRIES=()
  while [ "$last" = 0 ]; do
    if [[ $rest == *,* ]]; then
      piece=${rest%%,*}
      rest=${rest#*,}
    else
      piece=$rest
      last=1
    fi
    entry=${piece#"${piece%%[![:space:]]*}"}
    entry=${entry%"${entry##*[![:space:]]}"}
    [ -n "$entry" ] || continue
    number=$((number + 1))
    [[ $entry != *[[:space:]]* ]] ||
      die "DDN_TOKENS entry $number has whitespace inside it: write user:sha256hex entries separated by commas"
    [[ $entry == *:* ]] || die "DDN_TOKENS entry $number is not of the form user:sha256hex"
    user=${entry%%:*}
    hash=${entry#*:}
    [[ $user =~ ^[A-Za-z0-9_-]{1,64}$ ]] ||
      die "DDN_TOKENS entry $number has a user id that is not 1 to 64 of A-Z a-z 0-9 - _"
    [[ $hash =~ ^[0-9A-Fa-f]{64}$ ]] ||
      die "DDN_TOKENS entry $number has a hash that is not 64 hexadecimal digits (SHA-256)"
    hash=${hash,,}
    [ -z "${seen[$hash]:-}" ] || die "DDN_TOKENS entry $number repeats the hash of entry ${seen[$hash]}"
    seen[$hash]=$number
    TOKEN_ENTRIES+=("$entry")
  done
  [ "$number" -gt 0 ] ||
    die "no tokens configured: set DDN_TOKENS=user:sha256hex,... or DDN_AUTH=none for open access (./new_token.sh USER makes a token and its entry)"
}

check_bucket_name() {
  [[ $2 =~ ^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$ && $2 != *..* ]] ||
    die "$1=$2 is not an S3 bucket name (3 to 63 of a-z 0-9 . -)"
}

check_number() {
  if ! [[ $2 =~ ^[0-9]+$ ]] || [ "$2" -lt "$3" ] || [ "$2" -gt "$4" ]; then
    die "$1 must be a whole number from $3 to $4, got '$2'"
  fi
}

# Runs an AWS CLI command whose failure with one of the error codes in $1 (an extended regular
# expression) means "not there". Leaves the command's output in CLI_OUT and returns 0 on success,
# returns 1 for "not there", and stops the script with the CLI's message for any other failure.
CLI_OUT=
aws_maybe() {
  local codes=$1
  shift
  if aws "$@" >"$WORK_DIR/aws.out" 2>"$WORK_DIR/aws.err"; then
    CLI_OUT=$(cat "$WORK_DIR/aws.out")
    return 0
  fi
  CLI_OUT=
  if grep -Eq "$codes" "$WORK_DIR/aws.err"; then
    return 1
  fi
  cat "$WORK_DIR/aws.err" >&2
  die "aws $1 $2 failed"
}

# Prints the value at a dotted path (error.code) of the JSON document on standard input; nothing
# when there is no such value. Fails when the input is not JSON.
json_get() {
  python3 -c '
import json, sys
value = json.load(sys.stdin)
for key in sys.argv[1].split("."):
    value = value.get(key) if isinstance(value, dict) else None
print("" if value is None else value)' "$1"
}

# ---------------------------------------------------------------------------------------------
# Policy documents. Every name in them has been checked by load_settings, so plain substitution is
# safe JSON.

# Who may assume the function's role: the Lambda service, nothing else.
trust_policy() {
  cat <<EOF
{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Principal": { "Service": "lambda.amazonaws.com" },
      "Action": "sts:AssumeRole"
    }
  ]
}
EOF
}

# What the function may do. A presigned URL acts with the role's permissions, so this also bounds
# what any URL the function hands out can do: put into users/* of the input bucket (PutObject also covers
# creating, uploading parts of and completing a multipart upload), abort or list the parts of its
# multipart uploads there, and read users/* of the output bucket. It also reads the processor's
# failure markers, failed/users/*, of the output bucket (HeadObject needs GetObject); it never signs
# a URL for them. ListBucket on the output bucket makes a missing result or marker a 404 (not a
# 403) for HeadObject and serves /results. Its condition uses IfExists because S3 checks ListBucket
# for a HeadObject of a missing key without an s3:prefix; a listing that names a prefix must name
# one under users/ or failed/users/. Logs go to the function's own group only.
function_policy() {
  local logs="arn:aws:logs:$AWS_REGION:$ACCOUNT_ID:log-group:$FUNCTION_LOG_GROUP"
  cat <<EOF
{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "UploadIntoUserFolders",
      "Effect": "Allow",
      "Action": ["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
      "Resource": "arn:aws:s3:::$DDN_IN_BUCKET/users/*"
    },
    {
      "Sid": "ReadResultsInUserFolders",
      "Effect": "Allow",
      "Action": "s3:GetObject",
      "Resource": "arn:aws:s3:::$DDN_OUT_BUCKET/users/*"
    },
    {
      "Sid": "ReadFailureMarkersOfUserFolders",
      "Effect": "Allow",
      "Action": "s3:GetObject",
      "Resource": "arn:aws:s3:::$DDN_OUT_BUCKET/failed/users/*"
    },
    {
      "Sid": "ListResultsInUserFolders",
      "Effect": "Allow",
      "Action": "s3:ListBucket",
      "Resource": "arn:aws:s3:::$DDN_OUT_BUCKET",
      "Condition": { "StringLikeIfExists": { "s3:prefix": ["users/*", "failed/users/*"] } }
    },
    {
      "Sid": "WriteOwnLogs",
      "Effect": "Allow",
      "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
      "Resource": ["$logs", "$logs:*"]
    }
  ]
}
EOF
}

# The bucket policy statement refusing every request that does not use TLS.
tls_only_statement() {
  cat <<EOF
{
  "Sid": "$BUCKET_TLS_SID",
  "Effect": "Deny",
  "Principal": "*",
  "Action": "s3:*",
  "Resource": ["arn:aws:s3:::$1", "arn:aws:s3:::$1/*"],
  "Condition": { "Bool": { "aws:SecureTransport": "false" } }
}
EOF
}

# The lifecycle rule that deletes the parts of multipart uploads nobody completed.
abort_multipart_rule() {
  cat <<EOF
{
  "ID": "$LIFECYCLE_RULE_ID",
  "Status": "Enabled",
  "Filter": { "Prefix": "" },
  "AbortIncompleteMultipartUpload": { "DaysAfterInitiation": $DDN_ABORT_MULTIPART_DAYS }
}
EOF
}

# Prints the document in file $1 (a JSON object with the list $2, or empty for none) with the
# element whose key $3 equals the one in file $4 replaced by that element (or added): so the scripts
# manage their own statement or rule and keep everything else in place.
json_upsert() {
  python3 - "$@" <<'PY'
import json, sys
current_file, list_name, key, element_file = sys.argv[1:5]
with open(current_file) as f:
    text = f.read().strip()
doc = json.loads(text) if text else {}
with open(element_file) as f:
    element = json.load(f)
if list_name == "Statement":
    doc.setdefault("Version", "2012-10-17")
items = doc.get(list_name, [])
if isinstance(items, dict):
    items = [items]
items = [item for item in items if item.get(key) != element[key]]
items.append(element)
doc[list_name] = items
print(json.dumps(doc, indent=2))
PY
}

# The function's environment as the Lambda API takes it (JSON keeps commas in DDN_TOKENS intact).
# DDN_TOKENS is deployed as its checked entries, trimmed, joined by commas.
function_environment() {
  local tokens=
  if [ "$DDN_AUTH" = token ]; then
    check_token_entries
    tokens=$(
      IFS=,
      printf '%s' "${TOKEN_ENTRIES[*]}"
    )
  fi
  DDN_IN_BUCKET=$DDN_IN_BUCKET DDN_OUT_BUCKET=$DDN_OUT_BUCKET DDN_AUTH=$DDN_AUTH \
    DDN_TOKENS=$tokens DDN_URL_TTL_SECONDS=$DDN_URL_TTL_SECONDS \
    DDN_REQUIRE_SIZE=$DDN_REQUIRE_SIZE RUST_LOG=$RUST_LOG python3 -c '
import json, os
names = ["DDN_IN_BUCKET", "DDN_OUT_BUCKET", "DDN_AUTH", "DDN_URL_TTL_SECONDS", "DDN_REQUIRE_SIZE", "RUST_LOG"]
if os.environ["DDN_AUTH"] == "token":
    names.append("DDN_TOKENS")
print(json.dumps({"Variables": {name: os.environ[name] for name in names}}))'
}

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
  python3 - "$binary" "$PACKAGE_ZIP" <<'PY'
import os, sys, zipfile
binary, archive = sys.argv[1:3]
info = zipfile.ZipInfo("bootstrap", date_time=(1980, 1, 1, 0, 0, 0))
info.external_attr = 0o100755 << 16
info.compress_type = zipfile.ZIP_DEFLATED
with open(binary, "rb") as f, zipfile.ZipFile(archive + ".tmp", "w") as z:
    z.writestr(info, f.read())
os.replace(archive + ".tmp", archive)
PY
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

# ---------------------------------------------------------------------------------------------
# Finding what the scripts made.

# Sets API_ID (empty when there is none) to the HTTP API named DDN_API_NAME.
find_api() {
  local ids
  ids=$(aws apigatewayv2 get-apis --output text \
    --query "Items[?Name=='$DDN_API_NAME' && ProtocolType=='HTTP'].ApiId")
  ids=${ids//None/}
  read -r -a API_IDS <<<"$ids"
  case ${#API_IDS[@]} in
    0) API_ID= ;;
    1) API_ID=${API_IDS[0]} ;;
    *) die "several HTTP APIs are named $DDN_API_NAME (${API_IDS[*]}): delete the extra ones or set DDN_API_NAME" ;;
  esac
}

function_exists() {
  aws_maybe ResourceNotFoundException lambda get-function-configuration \
    --function-name "$DDN_LAMBDA_FUNC_NAME" --query FunctionArn --output text
}

# Waits until the function has finished applying its last change (a second change is refused
# while one is in progress).
wait_function_updated() {
  aws lambda wait function-updated --function-name "$DDN_LAMBDA_FUNC_NAME"
}

# The API's address: DDN_API_URL when set, else the endpoint of the API named DDN_API_NAME.
resolve_api_url() {
  if [ -n "${DDN_API_URL:-}" ]; then
    API_URL=${DDN_API_URL%/}
  else
    require_aws
    find_api
    [ -n "$API_ID" ] || die "no DDN_API_URL and no HTTP API named $DDN_API_NAME in $AWS_REGION: run ./01_create_function.sh first, or set DDN_API_URL"
    API_URL=$(aws apigatewayv2 get-api --api-id "$API_ID" --query ApiEndpoint --output text)
  fi
  check_api_url "$API_URL"
}

# A token goes only over TLS, or over plain HTTP to this machine: the API address must be https://,
# or http:// with a loopback host (127.0.0.0/8 written as four decimal numbers, [::1], localhost).
# Anything else stops the script before a request is made.
check_api_url() {
  local LC_ALL=C
  local url=$1 scheme authority host
  [[ $url =~ ^([A-Za-z]+)://([^/?#[:space:]]+)(/[^?#[:space:]]*)?$ ]] ||
    die "the API address '$url' is not an http(s) URL"
  scheme=${BASH_REMATCH[1],,}
  authority=${BASH_REMATCH[2]}
  # A user name in the address would make the host the part after the @, which is easy to misread.
  [[ $authority != *@* ]] || die "the API address '$url' holds a user name: remove the part before @"
  if [[ $authority =~ ^(\[[0-9A-Fa-f:.]+\])(:[0-9]*)?$ || $authority =~ ^([^:]+)(:[0-9]*)?$ ]]; then
    host=${BASH_REMATCH[1],,}
  else
    die "the API address '$url' is not an http(s) URL"
  fi
  case "$scheme" in
    https) ;;
    http)
      is_loopback_host "$host" ||
        die "the API address '$url' is plain http:// to another machine, which would send the token unencrypted: use https:// (plain http:// is accepted only for this machine: 127.x.x.x, [::1], localhost)"
      ;;
    *) die "the API address '$url' is not an http(s) URL" ;;
  esac
}

# Whether a host (lowercase, an IPv6 address in brackets) is this machine.
is_loopback_host() {
  local octet='(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])'
  [ "$1" = localhost ] || [ "$1" = '[::1]' ] || [[ $1 =~ ^127\.$octet\.$octet\.$octet$ ]]
}

# ---------------------------------------------------------------------------------------------
# The function.

# Creates a log group with the scripts' tag unless it exists; sets its retention either way.
ensure_log_group() {
  if aws_maybe ResourceAlreadyExistsException logs create-log-group --log-group-name "$1" \
    --tags "$DDN_TAG_KEY=$DDN_TAG_VALUE"; then
    note "created log group $1"
  fi
  aws logs put-retention-policy --log-group-name "$1" --retention-in-days "$DDN_LOG_RETENTION_DAYS"
}

# base64 of the SHA-256 of a file: how Lambda reports a package (CodeSha256).
code_sha256() {
  python3 -c 'import base64, hashlib, sys; print(base64.b64encode(hashlib.sha256(open(sys.argv[1], "rb").read()).digest()).decode())' "$1"
}

# Creates the function from PACKAGE_ZIP, or brings an existing one to this code and configuration;
# sets FUNCTION_ARN.
deploy_function() {
  function_environment >"$WORK_DIR/environment.json"
  local settings=(--role "$ROLE_ARN" --runtime provided.al2023 --handler bootstrap
    --memory-size "$DDN_LAMBDA_MEMORY_MB" --timeout "$DDN_LAMBDA_TIMEOUT_SECONDS"
    --environment "file://$WORK_DIR/environment.json")
  if function_exists; then
    FUNCTION_ARN=$CLI_OUT
    wait_function_updated
    local deployed
    deployed=$(aws lambda get-function-configuration --function-name "$DDN_LAMBDA_FUNC_NAME" \
      --query '[CodeSha256, Architectures[0]]' --output text)
    if [ "$deployed" = "$(code_sha256 "$PACKAGE_ZIP")	$DDN_LAMBDA_ARCH" ]; then
      note "code unchanged"
    else
      step "updating the code of $DDN_LAMBDA_FUNC_NAME"
      aws lambda update-function-code --function-name "$DDN_LAMBDA_FUNC_NAME" \
        --zip-file "fileb://$PACKAGE_ZIP" --architectures "$DDN_LAMBDA_ARCH" \
        --query CodeSha256 --output text >/dev/null
      wait_function_updated
    fi
    step "updating the configuration of $DDN_LAMBDA_FUNC_NAME"
    # The output would include the environment: keep it off the terminal.
    aws lambda update-function-configuration --function-name "$DDN_LAMBDA_FUNC_NAME" \
      "${settings[@]}" --query LastUpdateStatus --output text >/dev/null
    wait_function_updated
  else
    step "creating function $DDN_LAMBDA_FUNC_NAME"
    local attempt
    # A role created moments ago is not yet visible to Lambda everywhere (IAM is eventually
    # consistent); Lambda says so with "cannot be assumed", so wait and try again.
    for attempt in $(seq 1 12); do
      if aws_maybe 'cannot be assumed by Lambda' lambda create-function \
        --function-name "$DDN_LAMBDA_FUNC_NAME" "${settings[@]}" \
        --architectures "$DDN_LAMBDA_ARCH" --zip-file "fileb://$PACKAGE_ZIP" \
        --description "DDN presign function: S3 presigned URLs for authenticated callers" \
        --tags "$DDN_TAG_KEY=$DDN_TAG_VALUE" --query FunctionArn --output text; then
        FUNCTION_ARN=$CLI_OUT
        break
      fi
      [ "$attempt" -lt 12 ] || die "Lambda still cannot assume $ROLE_ARN after a minute: run ./00_prereqs.sh and check the role's trust policy"
      note "the new role is not visible to Lambda yet; trying again in 5 s"
      sleep 5
    done
    aws lambda wait function-active --function-name "$DDN_LAMBDA_FUNC_NAME"
  fi
  note "runtime provided.al2023, $DDN_LAMBDA_ARCH, $DDN_LAMBDA_MEMORY_MB MB, timeout $DDN_LAMBDA_TIMEOUT_SECONDS s, URL lifetime $DDN_URL_TTL_SECONDS s, auth $DDN_AUTH"

  if [ -n "$DDN_LAMBDA_RESERVED_CONCURRENCY" ]; then
    aws lambda put-function-concurrency --function-name "$DDN_LAMBDA_FUNC_NAME" \
      --reserved-concurrent-executions "$DDN_LAMBDA_RESERVED_CONCURRENCY" >/dev/null
    note "reserved concurrency $DDN_LAMBDA_RESERVED_CONCURRENCY"
  else
    aws lambda delete-function-concurrency --function-name "$DDN_LAMBDA_FUNC_NAME"
  fi
}

# ---------------------------------------------------------------------------------------------
# Calling the API like a client (51, 52). URLs and the token go to curl through a config file or
# standard input, never on its command line (which every user of the machine can read).

# Quotes a value for a curl config file.
curl_quote() {
  local value=${1//\\/\\\\}
  printf '"%s"' "${value//\"/\\\"}"
}

# Percent-encodes a query value (a space becomes %20, as the API expects).
url_encode() {
  python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"
}

# GET $API_URL$1 with the token; the body goes to file $2. Sets HTTP_STATUS and HTTP_MS.
api_get() {
  check_api_url "$API_URL"
  local result
  result=$({
    printf 'url = %s\n' "$(curl_quote "$API_URL$1")"
    [ -z "${DDN_API_TOKEN:-}" ] || printf 'header = %s\n' "$(curl_quote "Authorization: Bearer $DDN_API_TOKEN")"
  } | curl -sS --config - --connect-timeout 10 --max-time 60 -o "$2" -w '%{http_code} %{time_total}') ||
    die "cannot reach the API at $API_URL"
  read -r HTTP_STATUS HTTP_MS <<<"$result"
  HTTP_MS=$(seconds_to_ms "$HTTP_MS")
}

seconds_to_ms() { awk -v s="$1" 'BEGIN { printf "%.0f", s * 1000 }'; }

# Milliseconds on a monotonic clock.
now_ms() { python3 -c 'import time; print(round(time.monotonic() * 1000))'; }

# Explains an error answer of the API (file $1) and stops. Error messages never hold a URL or a
# token, so they can be shown.
api_failed() {
  local what code gateway
  if code=$(json_get error.code <"$1" 2>/dev/null) && [ -n "$code" ]; then
    what="$code: $(json_get error.message <"$1")"
  elif gateway=$(json_get message <"$1" 2>/dev/null) && [ -n "$gateway" ]; then
    # API Gateway's own answers (no such route, throttled, the function failed).
    what="API Gateway: $gateway"
  else
    what="an answer that is not the API's JSON"
  fi
  case "$HTTP_STATUS" in
    401) die "the API refused the token (401 $what): set DDN_API_TOKEN to a token whose hash is in DDN_TOKENS" ;;
    000) die "no answer from the API at $API_URL" ;;
    *) die "the API answered $HTTP_STATUS ($what)" ;;
  esac
}

# Writes a curl config (file $2) for the presigned request described by the API's answer (file $1):
# its URL and the headers it was signed with. curl sets Content-Length itself, from the file.
presigned_request_config() {
  python3 - "$1" "$2" <<'PY'
import json, sys
with open(sys.argv[1]) as f:
    answer = json.load(f)
def quote(value):
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
with open(sys.argv[2], "w") as f:
    f.write("url = %s\n" % quote(answer["url"]))
    for name, value in answer.get("headers", {}).items():
        if name.lower() != "content-length":
            f.write("header = %s\n" % quote("%s: %s" % (name, value)))
PY
}

# The S3 error code in an error answer (file $1); S3's error body can quote the signed request, so
# only the code is ever shown.
s3_error_code() {
  sed -n 's:.*<Code>\([A-Za-z]*\)</Code>.*:\1:p' "$1" | head -n 1
}

# Settings of the test scripts: the test file, its name on the service, the API and the token.
load_client_settings() {
  load_settings
  require_commands curl python3
  DDN_TEST_IMAGE_PATH=${DDN_TEST_IMAGE_PATH:-}
  [ -n "$DDN_TEST_IMAGE_PATH" ] || [ -n "${DDN_TEST_IMAGE_KEY:-}" ] ||
    die "set DDN_TEST_IMAGE_PATH to the file to send (and DDN_TEST_IMAGE_KEY to its name on the service, if not its file name)"
  DDN_TEST_IMAGE_KEY=${DDN_TEST_IMAGE_KEY:-$(basename "$DDN_TEST_IMAGE_PATH")}
  DDN_TEST_WAIT_SECONDS=${DDN_TEST_WAIT_SECONDS:-60}
  check_number DDN_TEST_WAIT_SECONDS "$DDN_TEST_WAIT_SECONDS" 0 86400
  resolve_api_url
  [ -n "${DDN_API_TOKEN:-}" ] || [ "$DDN_AUTH" = none ] ||
    warn "DDN_API_TOKEN is not set: the API will refuse the request unless the function runs with DDN_AUTH=none"
  [[ ${DDN_API_TOKEN:-} =~ ^[A-Za-z0-9._~+/=-]*$ ]] || die "DDN_API_TOKEN has characters no token has"
}
