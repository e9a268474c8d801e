#!/usr/bin/env python3
"""The deploy scripts' helper for what bash does badly: JSON, archives, hashes, URL encoding and
random tokens.

The scripts call it as `python3 ddn_deploy.py SUBCOMMAND [ARGS]` (the `ddn_deploy` function of
lib.sh). It makes no network call and reads no AWS setting. Secrets come in through files, standard
input or the environment, never as arguments, and only `new-token` prints one: making a token is
its job. Standard library only, and Python 3.7 or newer.

A failure prints `error: SUBCOMMAND: what went wrong` (never a document's content) and exits 1;
wrong arguments exit 2 with the usage.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import secrets
import sys
import time
import urllib.parse
import zipfile
from typing import Callable, Mapping, NamedTuple, Sequence, TextIO

# The function's settings that the scripts deploy as its environment, in the order written.
FUNCTION_SETTINGS = (
    "DDN_IN_BUCKET",
    "DDN_OUT_BUCKET",
    "DDN_AUTH",
    "DDN_URL_TTL_SECONDS",
    "DDN_REQUIRE_SIZE",
    "RUST_LOG",
)

# The API's access log: one JSON line per request, of context variables only. None of them holds
# the query string (file names) or a header (tokens).
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "time": "$context.requestTime",
    "ip": "$context.identity.sourceIp",
    "userAgent": "$context.identity.userAgent",
    "route": "$context.routeKey",
    "path": "$context.path",
    "status": "$context.status",
    "responseLength": "$context.responseLength",
    "latencyMs": "$context.responseLatency",
    "integrationLatencyMs": "$context.integrationLatency",
    "integrationStatus": "$context.integrationStatus",
    "error": "$context.error.message",
    "integrationError": "$context.integrationErrorMessage",
}

# The only file in the package, and how it is stored: a fixed date and mode make the archive
# depend on the binary alone, so deploying an unchanged build changes nothing (same CodeSha256).
PACKAGE_ENTRY = "bootstrap"
PACKAGE_DATE = (1980, 1, 1, 0, 0, 0)
PACKAGE_MODE = 0o100755

# A user id as the function accepts it: it names the folder users/USER_ID/.
USER_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

# Bytes read at a time when hashing a file.
BLOCK = 1 << 20


def json_get(document: object, path: str) -> str:
    """The value at a dotted path (`error.code`) of a JSON document as text, `""` when there is
    none. Text is printed as it is, anything else as Python prints it."""
    value = document
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return "" if value is None else str(value)


def json_upsert(current: str, list_name: str, key: str, element: dict) -> dict:
    """The document `current` (JSON text, or blank for none) with `element` put into its list
    `list_name` in place of every item whose `key` equals the element's, or added at the end.

    So the scripts manage their own policy statement or lifecycle rule and keep everything else. A
    policy (list `Statement`) gets a Version when it has none; a lone statement that is an object
    rather than a list is kept as the list's first item."""
    document = json.loads(current) if current.strip() else {}
    if list_name == "Statement":
        document.setdefault("Version", "2012-10-17")
    items = document.get(list_name, [])
    if isinstance(items, dict):
        items = [items]
    items = [item for item in items if item.get(key) != element[key]]
    items.append(element)
    document[list_name] = items
    return document


def lifecycle_rules(configuration: dict) -> dict:
    """Only the rules of a bucket's lifecycle configuration as GetBucketLifecycleConfiguration
    answers it, in the shape PutBucketLifecycleConfiguration takes."""
    return {"Rules": configuration.get("Rules", [])}


def function_environment(settings: Mapping[str, str]) -> dict:
    """The function's environment as the Lambda API takes it, from the settings of the same names.

    DDN_TOKENS goes with token authentication only; JSON keeps the commas between its entries."""
    names = list(FUNCTION_SETTINGS)
    if settings["DDN_AUTH"] == "token":
        names.append("DDN_TOKENS")
    return {"Variables": {name: settings[name] for name in names}}


def write_package(binary: str, archive: str) -> None:
    """Zips `binary` as the package's executable `bootstrap`, replacing `archive` only once the new
    one is complete."""
    entry = zipfile.ZipInfo(PACKAGE_ENTRY, date_time=PACKAGE_DATE)
    entry.external_attr = PACKAGE_MODE << 16
    entry.compress_type = zipfile.ZIP_DEFLATED
    partial = archive + ".tmp"
    with open(binary, "rb") as source, zipfile.ZipFile(partial, "w") as package:
        package.writestr(entry, source.read())
    os.replace(partial, archive)


def file_digest(path: str, algorithm: str) -> bytes:
    """The digest of a file's bytes, read a block at a time."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(BLOCK), b""):
            digest.update(block)
    return digest.digest()


def code_sha256(path: str) -> str:
    """base64 of the SHA-256 of a file: how Lambda reports a package (CodeSha256)."""
    return base64.b64encode(file_digest(path, "sha256")).decode()


def url_encode(value: str) -> str:
    """A query value percent-encoded with nothing left as it is: a space becomes %20 and a slash
    %2F, as the API expects."""
    return urllib.parse.quote(value, safe="")


def monotonic_ms(clock: Callable[[], float] = time.monotonic) -> int:
    """Milliseconds on a monotonic clock, for measuring intervals."""
    return round(clock() * 1000)


def curl_quote(value: str) -> str:
    """A value quoted for a curl config file."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def presigned_request_config(answer: dict) -> str:
    """A curl config for the presigned request the API's answer describes: its URL and the headers
    it was signed with. Content-Length is left out because curl sets it from the file."""
    lines = [f"url = {curl_quote(answer['url'])}"]
    for name, value in answer.get("headers", {}).items():
        if name.lower() != "content-length":
            lines.append(f"header = {curl_quote(f'{name}: {value}')}")
    return "".join(line + "\n" for line in lines)


def access_log_settings(destination_arn: str) -> dict:
    """The HTTP API stage's access log settings: the log group, and the format as a JSON text."""
    return {
        "DestinationArn": destination_arn,
        "Format": json.dumps(ACCESS_LOG_FIELDS, separators=(",", ":")),
    }


def permission_source(policy: dict, statement_id: str) -> str | None:
    """The source ARN that the statement `statement_id` of a function's resource policy lets invoke
    it; `"?"` for a statement without one, None when there is no such statement (a statement id
    is unique in a function's policy)."""
    for statement in policy.get("Statement", []):
        if statement.get("Sid") == statement_id:
            return statement.get("Condition", {}).get("ArnLike", {}).get("AWS:SourceArn", "?")
    return None


def new_token(
    user: str,
    random_token: Callable[[], str] = lambda: secrets.token_urlsafe(32),
) -> tuple[str, str]:
    """A new token (32 random bytes as URL-safe base64: 43 characters, 256 bits) and the
    DDN_TOKENS entry `user:sha256hex` that accepts it."""
    if not USER_ID.fullmatch(user):
        raise ValueError("a user id is 1 to 64 of A-Z a-z 0-9 - _")
    token = random_token()
    return token, f"{user}:{hashlib.sha256(token.encode()).hexdigest()}"


# ---------------------------------------------------------------------------------------------
# The command line: each subcommand reads its arguments, calls one function above and prints
# what it returns (only once it has succeeded, so a failure prints nothing on standard output).


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _new_token_lines(user: str) -> str:
    token, entry = new_token(user)
    return (
        f"token for {user} (give it to them; it cannot be shown again):\n"
        f"  {token}\n"
        "DDN_TOKENS entry (add it to DDN_TOKENS, comma-separated, as it is, then run ./02_update_function.sh):\n"
        f"  {entry}\n"
    )


def _line(text: str | None) -> str:
    return "" if text is None else text + "\n"


def _json_line(document: object, indent: int | None = None) -> str:
    return json.dumps(document, indent=indent) + "\n"


class Command(NamedTuple):
    """A subcommand: what it does, its arguments (name, meaning), and what it prints (None for
    nothing), from its arguments, standard input and environment."""

    summary: str
    arguments: tuple[tuple[str, str], ...]
    run: Callable[[argparse.Namespace, TextIO, Mapping[str, str]], str | None]


FILE = (("file", "the file"),)

# Every subcommand, by name.
COMMANDS: dict[str, Command] = {
    "json-get": Command(
        "print the value at a dotted path of the JSON document on standard input",
        (("path", "keys separated by dots, such as error.code"),),
        lambda a, stdin, env: _line(json_get(json.load(stdin), a.path)),
    ),
    "json-upsert": Command(
        "print a JSON document with one element of a list put in place or added",
        (("current", "file of the document (empty for none)"), ("list", "the list's name"),
         ("key", "the key that identifies an element"), ("element", "file of the element")),
        lambda a, stdin, env: _json_line(
            json_upsert(_read(a.current), a.list, a.key, json.loads(_read(a.element))), indent=2
        ),
    ),
    "lifecycle-rules": Command(
        "print only the rules of the lifecycle configuration on standard input",
        (),
        lambda a, stdin, env: _json_line(lifecycle_rules(json.load(stdin))),
    ),
    "function-environment": Command(
        "print the function's environment, from the settings of the same names in this one",
        (),
        lambda a, stdin, env: _json_line(function_environment(env)),
    ),
    "package-zip": Command(
        "zip a binary as the package's bootstrap",
        (("binary", "the binary"), ("archive", "the zip to write")),
        lambda a, stdin, env: write_package(a.binary, a.archive),
    ),
    "code-sha256": Command(
        "print the base64 SHA-256 of a file, as Lambda's CodeSha256",
        FILE,
        lambda a, stdin, env: _line(code_sha256(a.file)),
    ),
    "md5-base64": Command(
        "print the base64 MD5 of a file, as Content-MD5",
        FILE,
        lambda a, stdin, env: _line(base64.b64encode(file_digest(a.file, "md5")).decode()),
    ),
    "md5-hex": Command(
        "print the hexadecimal MD5 of a file, as a single-part upload's ETag",
        FILE,
        lambda a, stdin, env: _line(file_digest(a.file, "md5").hex()),
    ),
    "url-encode": Command(
        "print a value percent-encoded for a query",
        (("value", "the value"),),
        lambda a, stdin, env: _line(url_encode(a.value)),
    ),
    "now-ms": Command(
        "print milliseconds on a monotonic clock",
        (),
        lambda a, stdin, env: _line(str(monotonic_ms())),
    ),
    "presigned-request-config": Command(
        "write a curl config for the presigned request an API answer describes",
        (("answer", "file of the API's answer"), ("config", "the curl config to write")),
        lambda a, stdin, env: _write(a.config, presigned_request_config(json.loads(_read(a.answer)))),
    ),
    "access-log-settings": Command(
        "print the HTTP API stage's access log settings",
        (("destination_arn", "the log group's ARN"),),
        lambda a, stdin, env: _json_line(access_log_settings(a.destination_arn)),
    ),
    "permission-source": Command(
        "print the source ARN of a statement of the function policy on standard input",
        (("statement_id", "the statement's Sid"),),
        lambda a, stdin, env: _line(permission_source(json.load(stdin), a.statement_id)),
    ),
    "new-token": Command(
        "print a new token and the DDN_TOKENS entry that accepts it",
        (("user", "the user id"),),
        lambda a, stdin, env: _new_token_lines(a.user),
    ),
}


def parser() -> argparse.ArgumentParser:
    """The command line: one subcommand per entry of COMMANDS."""
    top = argparse.ArgumentParser(prog="ddn_deploy.py", description="Helpers of the DDN deploy scripts.")
    subcommands = top.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")
    for name, command in COMMANDS.items():
        sub = subcommands.add_parser(name, help=command.summary, description=command.summary)
        for argument, about in command.arguments:
            sub.add_argument(argument, help=about)
    return top


def main(
    argv: Sequence[str] | None = None,
    *,
    stdin: TextIO | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Runs one subcommand; returns the exit status."""
    arguments = parser().parse_args(argv)
    try:
        environment = os.environ if environ is None else environ
        printed = COMMANDS[arguments.command].run(arguments, stdin or sys.stdin, environment)
    except (OSError, ValueError, LookupError, TypeError, AttributeError) as error:
        (err or sys.stderr).write(f"error: {arguments.command}: {describe(error)}\n")
        return 1
    (out or sys.stdout).write(printed or "")
    return 0


def describe(error: Exception) -> str:
    """What went wrong, without any of the data: a JSON error says where the document is broken,
    a missing key is named, a file error names the file."""
    if isinstance(error, KeyError):
        return f"{error.args[0]!r} is missing"
    if isinstance(error, OSError) and error.strerror:
        return f"{error.filename}: {error.strerror}" if error.filename else error.strerror
    return str(error)


if __name__ == "__main__":
    sys.exit(main())
