#!/usr/bin/env bash
# Makes a new access token for a user and the DDN_TOKENS entry that accepts it.
#
#   ./new_token.sh alice
#
# Prints the token (give it to the user; it is not stored anywhere and cannot be shown again) and
# the line user:sha256hex for DDN_TOKENS. Add the line to DDN_TOKENS (entries are separated by
# commas, with no whitespace inside an entry: the rule of check_token_entries in lib/settings.sh
# and of the function; a user may have several, which is how tokens are rotated) and run
# ./02_update_function.sh.
set -euo pipefail

user=${1:-}
if [ $# -ne 1 ] || ! [[ $user =~ ^[A-Za-z0-9_-]{1,64}$ ]]; then
  echo "usage: $0 USER_ID   (1 to 64 of A-Z a-z 0-9 - _; it names the user's folder users/USER_ID/)" >&2
  exit 2
fi
command -v python3 >/dev/null 2>&1 || {
  echo "error: python3 is not installed" >&2
  exit 1
}

# 32 random bytes, URL-safe base64: 43 characters, 256 bits.
python3 "$(dirname "${BASH_SOURCE[0]}")/ddn_deploy.py" new-token "$user"
