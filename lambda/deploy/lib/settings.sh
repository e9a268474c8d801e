# shellcheck shell=bash
# Part of lib.sh: the settings, from the environment and the .env file, and their checks,
# including the function's own settings checked by the function's rules. Makes no AWS call.
#
# Variables set here are read by the scripts that source lib.sh.
# shellcheck disable=SC2034

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

# Stops unless $2, the value of the setting $1, can be an S3 bucket's name.
check_bucket_name() {
  [[ $2 =~ ^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$ && $2 != *..* ]] ||
    die "$1=$2 is not an S3 bucket name (3 to 63 of a-z 0-9 . -)"
}

# Stops unless $2, the value of the setting $1, is a whole number from $3 to $4.
check_number() {
  if ! [[ $2 =~ ^[0-9]+$ ]] || [ "$2" -lt "$3" ] || [ "$2" -gt "$4" ]; then
    die "$1 must be a whole number from $3 to $4, got '$2'"
  fi
}
