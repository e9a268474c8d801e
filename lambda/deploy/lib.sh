# shellcheck shell=bash
# shellcheck source-path=SCRIPTDIR
# Shared by the numbered deploy scripts, which source this file and nothing else. It holds what
# every part needs (paths, output, the error trap, the work folder, the Python helper), then
# sources the parts in lib/, one concern each:
#
#   settings.sh  settings from the environment and .env, and their checks (DDN_TOKENS included)
#   aws.sh       the AWS CLI: region and account, "not there" told from a failure, finding what
#                the scripts made
#   policies.sh  the IAM and bucket documents, and putting one statement or rule into a document
#   build.sh     the release bootstrap, its glibc check and its zip
#   function.sh  the function: its environment, code and configuration, its log groups
#   client.sh    calling the API as a client does (51, 52): the address rule, curl, answers
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

# Stops unless every command named is installed, saying how to install the usual ones.
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

# The Python helper (ddn_deploy.py; python3 ddn_deploy.py --help lists its subcommands). It takes
# secrets from files, standard input or its environment, never from its arguments.
ddn_deploy() { python3 "$DEPLOY_DIR/ddn_deploy.py" "$@"; }

# Prints the value at a dotted path (error.code) of the JSON document on standard input; nothing
# when there is no such value. Fails when the input is not JSON.
json_get() { ddn_deploy json-get "$1"; }

# shellcheck source=lib/settings.sh
source "$DEPLOY_DIR/lib/settings.sh"
# shellcheck source=lib/aws.sh
source "$DEPLOY_DIR/lib/aws.sh"
# shellcheck source=lib/policies.sh
source "$DEPLOY_DIR/lib/policies.sh"
# shellcheck source=lib/build.sh
source "$DEPLOY_DIR/lib/build.sh"
# shellcheck source=lib/function.sh
source "$DEPLOY_DIR/lib/function.sh"
# shellcheck source=lib/client.sh
source "$DEPLOY_DIR/lib/client.sh"
