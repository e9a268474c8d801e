#!/usr/bin/env bash
# Step 2: new code, new configuration.
#
# Rebuilds the release `bootstrap` and brings the existing function to it (skipped when the package
# is unchanged), then to the current settings: environment (buckets, DDN_AUTH, DDN_TOKENS, URL
# lifetime, RUST_LOG), memory, timeout, role, reserved concurrency. This is also how tokens are
# rotated: edit DDN_TOKENS, run this. The API needs no change.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

load_settings
require_aws
check_function_settings
function_exists || die "function $DDN_LAMBDA_FUNC_NAME does not exist in $AWS_REGION: run ./01_create_function.sh first"

build_package
deploy_function
step "function $DDN_LAMBDA_FUNC_NAME updated"
