"""ddn_deploy.py, the scripts' Python helper: each subcommand's output, its failures, and that the
scripts call only subcommands it has.

Offline and quick: no emulator, no build. The helper runs as the scripts run it (a separate
`python3 ddn_deploy.py` process) wherever the command line itself is what is tested, and is
called in process elsewhere.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import unittest
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from support import DEPLOY_DIR

sys.path.insert(0, str(DEPLOY_DIR))
import ddn_deploy  # noqa: E402  (found through the path set just above)

HELPER = DEPLOY_DIR / "ddn_deploy.py"
HEX64 = "9c220f200955d76c0a38d308225e0ef10c5f971acaf2f8d1d8f732affa5bd1dc"


def helper(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The helper run as the scripts run it."""
    return subprocess.run(
        [sys.executable, str(HELPER), *args],
        input=stdin,
        env={"PATH": os.environ.get("PATH", ""), **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def in_process(*args: str, stdin: str = "", environ: dict[str, str] | None = None) -> tuple[int, str, str]:
    """main() with its streams captured: (status, standard output, standard error)."""
    out, err = io.StringIO(), io.StringIO()
    status = ddn_deploy.main(list(args), stdin=io.StringIO(stdin), out=out, err=err, environ=environ or {})
    return status, out.getvalue(), err.getvalue()


class Folder(unittest.TestCase):
    """A test with a private temporary folder."""

    def setUp(self) -> None:
        folder = tempfile.TemporaryDirectory(prefix="ddn-deploy-helper-")
        self.addCleanup(folder.cleanup)
        self.folder = Path(folder.name)

    def file(self, name: str, content: bytes | str) -> Path:
        path = self.folder / name
        if isinstance(content, str):
            path.write_text(content)
        else:
            path.write_bytes(content)
        return path


class JsonGet(unittest.TestCase):
    def test_prints_the_value_at_a_dotted_path(self) -> None:
        answer = {"error": {"code": "not_ready", "message": "no result yet"}, "size": 1234, "key": "users/a/b c.png"}
        for path, expected in (
            ("error.code", "not_ready"),
            ("error.message", "no result yet"),
            ("size", "1234"),
            ("key", "users/a/b c.png"),
        ):
            with self.subTest(path):
                self.assertEqual(ddn_deploy.json_get(answer, path), expected)

    def test_prints_nothing_where_there_is_no_value(self) -> None:
        for document, path in (
            ({}, "error.code"),
            ({"error": None}, "error.code"),
            ({"error": "throttled"}, "error.code"),
            ({"error": [1, 2]}, "error.code"),
            ([{"error": {"code": "x"}}], "error.code"),
            ({"etag": None}, "etag"),
        ):
            with self.subTest(document=document):
                self.assertEqual(ddn_deploy.json_get(document, path), "")

    def test_the_command_reads_standard_input_and_fails_on_what_is_not_json(self) -> None:
        found = helper("json-get", "target_directory", stdin='{"target_directory": "/work/target"}')
        self.assertEqual((found.returncode, found.stdout, found.stderr), (0, "/work/target\n", ""))
        missing = helper("json-get", "error.code", stdin='{"message": "Not Found"}')
        self.assertEqual((missing.returncode, missing.stdout), (0, "\n"))
        # S3 and API Gateway can answer with HTML or XML; what it says is never repeated.
        broken = helper("json-get", "error.code", stdin="<Error><Code>secret-looking</Code></Error>")
        self.assertEqual(broken.returncode, 1)
        self.assertEqual(broken.stdout, "")
        self.assertRegex(broken.stderr, r"^error: json-get: Expecting value: line 1 column 1")
        self.assertNotIn("secret-looking", broken.stderr)


class JsonUpsert(Folder):
    TLS = {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Action": "s3:*"}

    def test_a_blank_document_becomes_a_policy_with_the_element_alone(self) -> None:
        for blank in ("", "\n", "  \n\t"):
            with self.subTest(blank=blank):
                self.assertEqual(
                    ddn_deploy.json_upsert(blank, "Statement", "Sid", self.TLS),
                    {"Version": "2012-10-17", "Statement": [self.TLS]},
                )
        # A lifecycle configuration has no Version.
        rule = {"ID": "ddn-abort", "Status": "Enabled"}
        self.assertEqual(ddn_deploy.json_upsert("", "Rules", "ID", rule), {"Rules": [rule]})

    def test_the_element_replaces_its_own_and_everything_else_stays(self) -> None:
        auditors = {"Sid": "Auditors", "Effect": "Allow", "Action": "s3:GetObject"}
        unnamed = {"Effect": "Allow", "Action": "s3:ListBucket"}
        old_tls = {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Action": "s3:GetObject"}
        current = json.dumps({"Version": "2008-10-17", "Id": "kept", "Statement": [auditors, old_tls, unnamed]})
        self.assertEqual(
            ddn_deploy.json_upsert(current, "Statement", "Sid", self.TLS),
            {"Version": "2008-10-17", "Id": "kept", "Statement": [auditors, unnamed, self.TLS]},
        )

    def test_a_lone_statement_object_is_kept_as_the_first_of_the_list(self) -> None:
        lone = {"Sid": "Auditors", "Effect": "Allow"}
        current = json.dumps({"Version": "2012-10-17", "Statement": lone})
        self.assertEqual(ddn_deploy.json_upsert(current, "Statement", "Sid", self.TLS)["Statement"], [lone, self.TLS])

    def test_running_it_twice_changes_nothing_more(self) -> None:
        once = ddn_deploy.json_upsert('{"Rules": [{"ID": "expire", "Status": "Enabled"}]}', "Rules", "ID", {"ID": "ddn", "Status": "Enabled"})
        twice = ddn_deploy.json_upsert(json.dumps(once), "Rules", "ID", {"ID": "ddn", "Status": "Enabled"})
        self.assertEqual(once, twice)

    def test_the_command_prints_the_document_indented(self) -> None:
        current = self.file("policy.json", "")
        element = self.file("statement.json", json.dumps(self.TLS))
        printed = helper("json-upsert", str(current), "Statement", "Sid", str(element))
        self.assertEqual(printed.returncode, 0, printed.stderr)
        expected = {"Version": "2012-10-17", "Statement": [self.TLS]}
        self.assertEqual(printed.stdout, json.dumps(expected, indent=2) + "\n")


class LifecycleRules(unittest.TestCase):
    def test_only_the_rules_are_kept(self) -> None:
        rules = [{"ID": "expire-old-results", "Status": "Enabled", "Expiration": {"Days": 90}}]
        answer = {"Rules": rules, "TransitionDefaultMinimumObjectSize": "all_storage_classes_128K"}
        self.assertEqual(ddn_deploy.lifecycle_rules(answer), {"Rules": rules})
        self.assertEqual(ddn_deploy.lifecycle_rules({}), {"Rules": []})

    def test_the_command_reads_standard_input(self) -> None:
        status, out, err = in_process("lifecycle-rules", stdin='{"Rules": [{"ID": "a"}], "Other": 1}')
        self.assertEqual((status, err), (0, ""))
        self.assertEqual(out, '{"Rules": [{"ID": "a"}]}\n')


class FunctionEnvironment(unittest.TestCase):
    SETTINGS = {
        "DDN_IN_BUCKET": "acme.uploads",
        "DDN_OUT_BUCKET": "acme.results",
        "DDN_URL_TTL_SECONDS": "900",
        "DDN_REQUIRE_SIZE": "true",
        "RUST_LOG": "debug",
        "DDN_TOKENS": f"alice:{HEX64},bob:{HEX64.upper()}",
    }

    def test_token_authentication_deploys_the_tokens_with_their_commas(self) -> None:
        environment = ddn_deploy.function_environment({**self.SETTINGS, "DDN_AUTH": "token"})
        self.assertEqual(
            list(environment["Variables"].items()),
            [
                ("DDN_IN_BUCKET", "acme.uploads"),
                ("DDN_OUT_BUCKET", "acme.results"),
                ("DDN_AUTH", "token"),
                ("DDN_URL_TTL_SECONDS", "900"),
                ("DDN_REQUIRE_SIZE", "true"),
                ("RUST_LOG", "debug"),
                ("DDN_TOKENS", f"alice:{HEX64},bob:{HEX64.upper()}"),
            ],
        )
        self.assertEqual(list(environment), ["Variables"])

    def test_open_access_deploys_no_tokens(self) -> None:
        environment = ddn_deploy.function_environment({**self.SETTINGS, "DDN_AUTH": "none"})
        self.assertNotIn("DDN_TOKENS", environment["Variables"])
        self.assertEqual(environment["Variables"]["DDN_AUTH"], "none")

    def test_the_command_reads_the_settings_from_its_environment_only(self) -> None:
        printed = helper("function-environment", env={**self.SETTINGS, "DDN_AUTH": "token", "DDN_OTHER": "x"})
        self.assertEqual(printed.returncode, 0, printed.stderr)
        self.assertEqual(json.loads(printed.stdout), ddn_deploy.function_environment({**self.SETTINGS, "DDN_AUTH": "token"}))

    def test_a_missing_setting_is_named_and_no_value_is_shown(self) -> None:
        settings = {name: value for name, value in self.SETTINGS.items() if name != "RUST_LOG"}
        status, out, err = in_process("function-environment", environ={**settings, "DDN_AUTH": "token"})
        self.assertEqual((status, out), (1, ""))
        self.assertEqual(err, "error: function-environment: 'RUST_LOG' is missing\n")


class Package(Folder):
    def test_the_zip_holds_the_binary_alone_as_an_executable_bootstrap(self) -> None:
        content = os.urandom(300_000) + b"\0" * 100_000
        binary = self.file("built-binary", content)
        archive = self.folder / "ddn-presign-x86_64.zip"
        self.assertEqual(helper("package-zip", str(binary), str(archive)).returncode, 0)
        with zipfile.ZipFile(archive) as package:
            (entry,) = package.infolist()
            self.assertEqual(entry.filename, "bootstrap")
            self.assertEqual(entry.external_attr >> 16, 0o100755)
            self.assertEqual(entry.date_time, (1980, 1, 1, 0, 0, 0))
            self.assertEqual(entry.compress_type, zipfile.ZIP_DEFLATED)
            self.assertEqual(package.read(entry), content)
        self.assertEqual(sorted(path.name for path in self.folder.iterdir()), ["built-binary", "ddn-presign-x86_64.zip"])

    def test_the_same_binary_makes_the_same_archive(self) -> None:
        # Lambda compares CodeSha256: an unchanged build must not look like new code.
        binary = self.file("bootstrap", os.urandom(50_000))
        first, second = self.folder / "first.zip", self.folder / "second.zip"
        ddn_deploy.write_package(str(binary), str(first))
        os.utime(binary, (1_000_000_000, 1_000_000_000))
        ddn_deploy.write_package(str(binary), str(second))
        self.assertEqual(first.read_bytes(), second.read_bytes())
        self.assertEqual(ddn_deploy.code_sha256(str(first)), ddn_deploy.code_sha256(str(second)))

    def test_an_existing_archive_is_replaced(self) -> None:
        archive = self.file("package.zip", b"an older package")
        binary = self.file("bootstrap", b"new build")
        ddn_deploy.write_package(str(binary), str(archive))
        with zipfile.ZipFile(archive) as package:
            self.assertEqual(package.read("bootstrap"), b"new build")

    def test_a_missing_binary_is_named_and_leaves_no_archive(self) -> None:
        missing = self.folder / "target" / "release" / "bootstrap"
        archive = self.folder / "package.zip"
        status, _, err = in_process("package-zip", str(missing), str(archive))
        self.assertEqual(status, 1)
        self.assertEqual(err, f"error: package-zip: {missing}: No such file or directory\n")
        self.assertEqual(list(self.folder.iterdir()), [])


class Digests(Folder):
    def test_each_digest_is_that_of_the_whole_file(self) -> None:
        # Larger than one read block, and not a multiple of it.
        content = os.urandom(2 * ddn_deploy.BLOCK + 12345)
        path = self.file("scan.png", content)
        for command, expected in (
            ("code-sha256", base64.b64encode(hashlib.sha256(content).digest()).decode()),
            ("md5-base64", base64.b64encode(hashlib.md5(content).digest()).decode()),
            ("md5-hex", hashlib.md5(content).hexdigest()),
        ):
            with self.subTest(command):
                printed = helper(command, str(path))
                self.assertEqual((printed.returncode, printed.stdout, printed.stderr), (0, expected + "\n", ""))

    def test_an_empty_file_has_the_digests_of_nothing(self) -> None:
        path = self.file("empty", b"")
        self.assertEqual(in_process("md5-hex", str(path))[1], "d41d8cd98f00b204e9800998ecf8427e\n")
        self.assertEqual(in_process("md5-base64", str(path))[1], "1B2M2Y8AsgTpgAmY7PhCfg==\n")
        self.assertEqual(in_process("code-sha256", str(path))[1], "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n")


class UrlEncode(unittest.TestCase):
    def test_every_reserved_character_is_encoded(self) -> None:
        for value, expected in (
            ("2026/11/scan 01.png", "2026%2F11%2Fscan%2001.png"),
            ("a+b&c=d?e#f", "a%2Bb%26c%3Dd%3Fe%23f"),
            ("%41", "%2541"),
            ("사진.png", "%EC%82%AC%EC%A7%84.png"),
            ("safe-_.~", "safe-_.~"),
        ):
            with self.subTest(value):
                self.assertEqual(ddn_deploy.url_encode(value), expected)
                self.assertEqual(helper("url-encode", value).stdout, expected + "\n")


class Clock(unittest.TestCase):
    def test_milliseconds_are_rounded(self) -> None:
        self.assertEqual(ddn_deploy.monotonic_ms(lambda: 12.3456), 12346)
        self.assertEqual(ddn_deploy.monotonic_ms(lambda: 0.0004), 0)

    def test_the_command_counts_forward(self) -> None:
        first = int(helper("now-ms").stdout)
        second = int(helper("now-ms").stdout)
        self.assertGreaterEqual(second, first)


class _Recorder(BaseHTTPRequestHandler):
    """Answers 200 to any GET and keeps what it was sent."""

    seen: list[tuple[str, dict[str, str]]] = []

    def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
        self.seen.append((self.path, {name.lower(): value for name, value in self.headers.items()}))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base class's name)
        pass


class PresignedRequestConfig(Folder):
    def test_curl_sends_exactly_the_url_and_the_headers_signed(self) -> None:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
        self.addCleanup(server.server_close)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self.addCleanup(thread.join)
        self.addCleanup(server.shutdown)
        _Recorder.seen = []
        path = "/ddn-in/users/dev/scan%2001.png?X-Amz-Signature=ab%2Fcd&X-Amz-SignedHeaders=host%3Bx-amz-meta-note"
        answer = {
            "url": f"http://127.0.0.1:{server.server_port}{path}",
            "headers": {
                "x-amz-meta-ddn-upload-id": "0f1e2d3c",
                "x-amz-meta-note": 'say "hi" \\ and # not a comment',
                "Content-Length": "999",
            },
        }
        answer_file = self.file("presign.json", json.dumps(answer))
        config = self.folder / "get.curl"
        self.assertEqual(helper("presigned-request-config", str(answer_file), str(config)).returncode, 0)
        sent = subprocess.run(["curl", "-sS", "--config", str(config), "-o", os.devnull], capture_output=True, text=True, timeout=60)
        self.assertEqual(sent.returncode, 0, sent.stderr)

        ((received_path, headers),) = _Recorder.seen
        self.assertEqual(received_path, path)
        self.assertEqual(headers["x-amz-meta-ddn-upload-id"], "0f1e2d3c")
        self.assertEqual(headers["x-amz-meta-note"], 'say "hi" \\ and # not a comment')
        # curl sets the length itself, from the file it sends.
        self.assertNotIn("content-length", headers)

    def test_the_quoting_is_that_of_the_bash_side(self) -> None:
        # api_get quotes in bash (curl_quote in lib/client.sh) what this quotes in Python.
        for value in ('plain', 'a "quoted" word', "back\\slash\\", '\\"', "Authorization: Bearer a+b/c="):
            with self.subTest(value):
                bash = subprocess.run(
                    ["bash", "-c", 'source "$1"; curl_quote "$2"', "bash", str(DEPLOY_DIR / "lib.sh"), value],
                    env={"PATH": os.environ.get("PATH", ""), "TMPDIR": str(self.folder)},
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
                self.assertEqual(bash.stdout, ddn_deploy.curl_quote(value))

    def test_content_length_is_left_out_in_any_case_and_no_headers_is_fine(self) -> None:
        config = ddn_deploy.presigned_request_config({"url": "https://s3.example/k?X=1", "headers": {"content-LENGTH": "5", "X-A": "b"}})
        self.assertEqual(config, 'url = "https://s3.example/k?X=1"\nheader = "X-A: b"\n')
        self.assertEqual(ddn_deploy.presigned_request_config({"url": "https://s3.example/k"}), 'url = "https://s3.example/k"\n')

    def test_an_answer_without_a_url_is_refused_without_showing_it(self) -> None:
        answer = self.file("presign.json", json.dumps({"headers": {"x-amz-meta-secret": "do-not-print"}}))
        config = self.folder / "put.curl"
        status, out, err = in_process("presigned-request-config", str(answer), str(config))
        self.assertEqual((status, out), (1, ""))
        self.assertEqual(err, "error: presigned-request-config: 'url' is missing\n")
        self.assertFalse(config.exists())


class AccessLog(unittest.TestCase):
    def test_the_format_is_compact_json_of_context_variables(self) -> None:
        arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/apigateway/ddn-presign-api"
        settings = json.loads(helper("access-log-settings", arn).stdout)
        self.assertEqual(list(settings), ["DestinationArn", "Format"])
        self.assertEqual(settings["DestinationArn"], arn)
        self.assertNotIn(" ", settings["Format"])
        fields = json.loads(settings["Format"])
        self.assertEqual(fields, ddn_deploy.ACCESS_LOG_FIELDS)
        self.assertEqual(fields["requestId"], "$context.requestId")
        for variable in fields.values():
            self.assertRegex(variable, r"^\$context\.[A-Za-z.]+$")
            self.assertNotIn("querystring", variable.lower())
            self.assertNotIn("header", variable.lower())


class PermissionSource(unittest.TestCase):
    POLICY = {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ddn-api-GET-presign", "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:execute-api:eu-west-1:1:abc/*/GET/presign"}}},
            {"Sid": "ddn-api-GET-results"},
        ],
    }

    def test_the_statement_s_source_or_a_question_mark_or_nothing(self) -> None:
        self.assertEqual(ddn_deploy.permission_source(self.POLICY, "ddn-api-GET-presign"), "arn:aws:execute-api:eu-west-1:1:abc/*/GET/presign")
        self.assertEqual(ddn_deploy.permission_source(self.POLICY, "ddn-api-GET-results"), "?")
        self.assertIsNone(ddn_deploy.permission_source(self.POLICY, "ddn-api-GET-other"))
        self.assertIsNone(ddn_deploy.permission_source({}, "ddn-api-GET-presign"))

    def test_the_command_prints_nothing_for_no_statement(self) -> None:
        policy = json.dumps(self.POLICY)
        self.assertEqual(in_process("permission-source", "ddn-api-GET-presign", stdin=policy), (0, "arn:aws:execute-api:eu-west-1:1:abc/*/GET/presign\n", ""))
        self.assertEqual(in_process("permission-source", "ddn-api-GET-results", stdin=policy), (0, "?\n", ""))
        self.assertEqual(in_process("permission-source", "nothing", stdin=policy), (0, "", ""))


class NewToken(unittest.TestCase):
    def test_the_entry_is_the_sha256_of_the_token(self) -> None:
        token, entry = ddn_deploy.new_token("alice", lambda: "fixed-token")
        self.assertEqual(token, "fixed-token")
        self.assertEqual(entry, "alice:" + hashlib.sha256(b"fixed-token").hexdigest())

    def test_a_real_token_has_256_bits(self) -> None:
        tokens = {ddn_deploy.new_token("bob")[0] for _ in range(20)}
        self.assertEqual(len(tokens), 20)
        for token in tokens:
            self.assertRegex(token, r"^[A-Za-z0-9_-]{43}$")

    def test_a_user_id_that_cannot_be_a_folder_is_refused(self) -> None:
        for user in ("", "a/b", "a:b", "a b", "x" * 65):
            with self.subTest(user=user):
                with self.assertRaises(ValueError):
                    ddn_deploy.new_token(user)
                self.assertEqual(helper("new-token", user).returncode, 1)

    def test_the_command_prints_the_token_and_the_entry(self) -> None:
        printed = helper("new-token", "Team-7_b")
        self.assertEqual(printed.returncode, 0, printed.stderr)
        lines = printed.stdout.splitlines()
        self.assertEqual(len(lines), 4)
        self.assertEqual(lines[0], "token for Team-7_b (give it to them; it cannot be shown again):")
        self.assertEqual(lines[2], "DDN_TOKENS entry (add it to DDN_TOKENS, comma-separated, as it is, then run ./02_update_function.sh):")
        token = lines[1].removeprefix("  ")
        self.assertEqual(lines[3], "  Team-7_b:" + hashlib.sha256(token.encode()).hexdigest())


class CommandLine(unittest.TestCase):
    def test_wrong_arguments_exit_2_with_the_usage(self) -> None:
        for args in ((), ("no-such-command",), ("url-encode",), ("json-get", "a", "b")):
            with self.subTest(args=args):
                wrong = helper(*args)
                self.assertEqual(wrong.returncode, 2)
                self.assertIn("usage: ddn_deploy.py", wrong.stderr)
                self.assertEqual(wrong.stdout, "")

    def test_the_scripts_call_only_subcommands_it_has_and_it_has_no_other(self) -> None:
        offered = set(ddn_deploy.COMMANDS)
        called: set[str] = set()
        for script in DEPLOY_DIR.rglob("*.sh"):
            called |= set(re.findall(r'(?:\bddn_deploy|ddn_deploy\.py")\s+([a-z0-9-]+)', script.read_text()))
        self.assertEqual(called, offered)

    def test_no_script_holds_python_of_its_own(self) -> None:
        # Every Python program of the scripts is a subcommand here, where it is tested.
        for script in DEPLOY_DIR.rglob("*.sh"):
            with self.subTest(script=script.name):
                text = script.read_text()
                self.assertNotRegex(text, r"python3?\s+(-c|-\s)")
                self.assertNotIn("<<'PY'", text)


if __name__ == "__main__":
    unittest.main()
