"""51_test_upload.sh and 52_test_download.sh, through a real presign API: the project's local stack.

The emulator cannot run the function, so the scripts talk to `ddn-local` instead: the same presign
service over HTTP on loopback, an S3 server that checks signatures, sizes and MD5s, and a stand-in
processor that copies each upload to the output bucket. Also the old scripts' own calls (Python
requests), which must keep working, the rule that keeps tokens off plain HTTP, and new_token.sh.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

from support import Emulator, Scripts, cargo_build, cargo_target_dir, describe, new_token

IN_BUCKET = "ddn-test-in"
OUT_BUCKET = "ddn-test-out"


class LocalStack:
    """`ddn-local` on free loopback ports, until stopped."""

    def __init__(self, folder: Path) -> None:
        cargo_build("-p", "ddn-localstack", "--bin", "ddn-local")
        ready = folder / "ready.json"
        self._log = open(folder / "ddn-local.log", "w")
        self._process = subprocess.Popen(
            [
                str(cargo_target_dir() / "debug" / "ddn-local"),
                "--api-port", "0",
                "--s3-port", "0",
                "--data-dir", str(folder / "data"),
                "--processing-delay-ms", "1500",
                "--ready-file", str(ready),
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while not ready.exists():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"ddn-local did not start: {(folder / 'ddn-local.log').read_text()}")
            time.sleep(0.1)
        details = json.loads(ready.read_text())
        self.api_url: str = details["apiUrl"]
        self.token: str = details["token"]
        self.s3_url: str = details["s3Url"]

    def stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._log.close()


def milliseconds(output: str, label: str) -> int:
    found = re.search(rf"^\s+{label}:\s+(\d+) ms$", output, re.MULTILINE)
    if found is None:
        raise AssertionError(f"no '{label}: N ms' line in:\n{output}")
    return int(found.group(1))


class ClientScripts(unittest.TestCase):
    stack: LocalStack
    folder: Path

    @classmethod
    def setUpClass(cls) -> None:
        cls.folder = Path(tempfile.mkdtemp(prefix="ddn-client-test-"))
        cls.stack = LocalStack(cls.folder)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.stack.stop()

    def setUp(self) -> None:
        self.scripts = Scripts(None, f"AWS_REGION=eu-west-1\nDDN_API_URL={self.stack.api_url}\n")
        self.addCleanup(self.scripts.cleanup)
        self.work = self.scripts.home

    def sample(self, name: str, size: int) -> Path:
        path = self.work / name
        path.write_bytes(os.urandom(size))
        return path

    def assert_nothing_secret_in(self, *texts: str) -> None:
        seen = "".join(texts) + self.scripts.argv()
        self.assertNotIn(self.stack.token, seen)
        self.assertNotIn("X-Amz-Signature", seen)
        self.assertNotIn("X-Amz-Credential", seen)
        self.assertNotIn(self.stack.s3_url, seen)

    def test_a_file_goes_up_and_its_result_comes_back_identical(self) -> None:
        source = self.sample("scan 01.png", 300 * 1024 + 7)
        settings = {
            "DDN_API_TOKEN": self.stack.token,
            "DDN_TEST_IMAGE_PATH": str(source),
            "DDN_TEST_IMAGE_KEY": "2026/11/scan 01.png",
            "DDN_TEST_DOWNLOAD_PATH": str(self.work / "result.png"),
            "DDN_TEST_WAIT_SECONDS": "30",
        }
        upload = self.scripts.run("51_test_upload.sh", settings, timeout=120)
        self.assertEqual(upload.returncode, 0, describe(upload))
        self.assertIn("stored as users/dev/2026/11/scan 01.png in the input bucket", upload.stdout)
        self.assertGreater(milliseconds(upload.stdout, "upload"), 0)
        self.assertGreaterEqual(milliseconds(upload.stdout, "presign"), 0)

        # The processor copies after 1.5 s, so the download script waits for the result first.
        download = self.scripts.run("52_test_download.sh", settings, timeout=120)
        self.assertEqual(download.returncode, 0, describe(download))
        self.assertIn("the result is not ready yet", download.stdout)
        self.assertIn(f"saved {300 * 1024 + 7} bytes", download.stdout)
        self.assertIn("size and MD5 checked", download.stdout)
        self.assertGreater(milliseconds(download.stdout, "download"), 0)
        self.assertEqual((self.work / "result.png").read_bytes(), source.read_bytes())
        self.assertFalse((self.work / "result.png.part").exists())
        self.assert_nothing_secret_in(upload.stdout, upload.stderr, download.stdout, download.stderr)

    def test_refusals_are_explained(self) -> None:
        source = self.sample("refused.bin", 1000)
        settings = {"DDN_API_TOKEN": "not-a-token", "DDN_TEST_IMAGE_PATH": str(source)}
        refused = self.scripts.run("51_test_upload.sh", settings, timeout=120)
        self.assertEqual(refused.returncode, 1, describe(refused))
        self.assertIn("the API refused the token (401 unauthorized", refused.stderr)

        settings = {"DDN_API_TOKEN": self.stack.token, "DDN_TEST_IMAGE_KEY": "never-uploaded.png", "DDN_TEST_WAIT_SECONDS": "2"}
        missing = self.scripts.run("52_test_download.sh", settings, timeout=120)
        self.assertEqual(missing.returncode, 1, describe(missing))
        self.assertIn("the result of never-uploaded.png is not ready after 2 s", missing.stderr)

        settings = {"DDN_API_TOKEN": self.stack.token, "DDN_TEST_IMAGE_PATH": str(source), "DDN_TEST_IMAGE_KEY": "../escape.png"}
        invalid = self.scripts.run("51_test_upload.sh", settings, timeout=120)
        self.assertEqual(invalid.returncode, 1, describe(invalid))
        self.assertIn("the API answered 400 (invalid_key", invalid.stderr)
        self.assert_nothing_secret_in(refused.stderr, missing.stderr, invalid.stderr)

    def test_the_old_scripts_exact_calls_still_work(self) -> None:
        # The old scripts asked for an upload URL without a size and PUT an open file with
        # requests, sending none of the answer's headers; then asked for the result the same way.
        # (They called an open API; the token header is the one addition.)
        import requests

        key = "seed-scan.png"
        source = self.sample(key, 200 * 1024 + 3)
        authorization = {"Authorization": f"Bearer {self.stack.token}"}
        presign = requests.get(f"{self.stack.api_url}/presign?mode=upload&file={key}", headers=authorization, timeout=30)
        self.assertEqual(presign.status_code, 200, presign.text)
        url = presign.json()["url"]
        with open(source, "rb") as f:
            put = requests.put(url, data=f, timeout=60)
        self.assertEqual(put.status_code, 200, put.text)

        # The stand-in processor copies after 1.5 s.
        deadline = time.monotonic() + 30
        while True:
            download = requests.get(f"{self.stack.api_url}/presign?mode=download&file={key}", headers=authorization, timeout=30)
            if download.status_code == 200:
                break
            self.assertEqual((download.status_code, download.json()["error"]["code"]), (404, "not_ready"))
            self.assertLess(time.monotonic(), deadline, "the result never appeared")
            time.sleep(0.5)
        result = requests.get(download.json()["url"], timeout=60)
        self.assertEqual(result.status_code, 200)
        self.assertEqual(result.content, source.read_bytes())

    def test_the_upload_can_stand_in_for_the_processor_as_the_old_test_did(self) -> None:
        # The copy step runs the AWS CLI against the emulator, whose input bucket holds what the
        # local stack received (the two S3s are separate).
        emulator = Emulator()
        self.addCleanup(emulator.stop)
        emulator.reset()
        s3 = emulator.client("s3")
        for bucket in (IN_BUCKET, OUT_BUCKET):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        source = self.sample("copied.png", 4096)
        s3.put_object(Bucket=IN_BUCKET, Key="users/dev/copied.png", Body=source.read_bytes())

        scripts = Scripts(emulator, f"DDN_API_URL={self.stack.api_url}\nDDN_IN_BUCKET={IN_BUCKET}\nDDN_OUT_BUCKET={OUT_BUCKET}\n")
        self.addCleanup(scripts.cleanup)
        settings = {"DDN_API_TOKEN": self.stack.token, "DDN_TEST_IMAGE_PATH": str(source), "DDN_TEST_SIMULATE_PROCESSING": "1"}
        upload = scripts.run("51_test_upload.sh", settings, timeout=120)
        self.assertEqual(upload.returncode, 0, describe(upload))
        self.assertIn(f"copying users/dev/copied.png to {OUT_BUCKET}", upload.stdout)
        milliseconds(upload.stdout, "copy")
        copied = s3.get_object(Bucket=OUT_BUCKET, Key="users/dev/copied.png")["Body"].read()
        self.assertEqual(copied, source.read_bytes())


class ApiAddressRule(unittest.TestCase):
    """A token goes only over TLS, or over plain HTTP to this machine; the local-stack tests above
    show that loopback http:// works."""

    def setUp(self) -> None:
        self.scripts = Scripts(None, "AWS_REGION=eu-west-1\n")
        self.addCleanup(self.scripts.cleanup)

    def sample(self, name: str, size: int) -> Path:
        path = self.scripts.home / name
        path.write_bytes(os.urandom(size))
        return path

    def test_a_token_never_goes_over_plain_http_to_another_machine(self) -> None:
        source = self.sample("plain.bin", 100)
        for url in (
            "http://example.com",
            "http://example.com/prod",
            "http://127.0.0.1@example.com",
            "http://localhost.example.com:8787",
            "http://128.0.0.1:8787",
            "http://[::2]:8787",
        ):
            settings = {"DDN_API_URL": url, "DDN_API_TOKEN": TOKEN, "DDN_TEST_IMAGE_PATH": str(source)}
            for script in ("51_test_upload.sh", "52_test_download.sh"):
                with self.subTest(url=url, script=script):
                    refused = self.scripts.run(script, settings, timeout=120)
                    self.assertEqual(refused.returncode, 1, describe(refused))
                    self.assertIn("error: the API address", refused.stderr)
                    self.assertNotIn("curl", self.scripts.argv(), "refused before any request")
                    self.assertNotIn(TOKEN, refused.stdout + refused.stderr + self.scripts.argv())

    def test_the_api_address_rule(self) -> None:
        # Checked without a request: https:// anywhere, plain http:// to this machine only.
        for url, accepted in (
            ("https://abc123.execute-api.eu-west-1.amazonaws.com", True),
            ("https://example.com:8443/prod", True),
            ("HTTPS://EXAMPLE.COM", True),
            ("http://127.0.0.1:8787", True),
            ("http://127.255.3.4", True),
            ("http://[::1]:8787/", True),
            ("http://localhost:8787", True),
            ("http://LocalHost", True),
            ("http://example.com", False),
            ("http://10.0.0.1:8787", False),
            ("http://127.0.0.256", False),
            ("http://127.0.0.01", False),
            ("http://127.1", False),
            ("http://[::ffff:127.0.0.1]", False),
            ("http://localhost.", False),
            ("http://user@localhost", False),
            ("https://user:pass@example.com", False),
            ("ftp://127.0.0.1", False),
            ("127.0.0.1:8787", False),
            ("https://example.com/?x=1", False),
        ):
            with self.subTest(url=url):
                checked = self.scripts.lib('check_api_url "$DDN_API_URL"', {"DDN_API_URL": url})
                self.assertEqual(checked.returncode, 0 if accepted else 1, describe(checked))
        self.assertNotIn("curl", self.scripts.argv())


TOKEN = "Kq3v-not-a-real-token-but-secret-all-the-same"


class NewToken(unittest.TestCase):
    def test_the_entry_is_the_tokens_sha256_for_the_user(self) -> None:
        token, entry = new_token("alice_01")
        user, digest = entry.split(":")
        self.assertEqual(user, "alice_01")
        self.assertEqual(digest, hashlib.sha256(token.encode()).hexdigest())
        self.assertRegex(token, r"^[A-Za-z0-9_-]{43}$")
        self.assertNotEqual(new_token("alice_01")[0], token)

    def test_a_user_id_that_cannot_be_a_folder_name_is_refused(self) -> None:
        for user in ("", "a/b", "a:b", "x" * 65):
            refused = subprocess.run(
                ["bash", str(Path(__file__).resolve().parent.parent / "new_token.sh"), user],
                capture_output=True,
                text=True,
                timeout=60,
            )
            self.assertEqual(refused.returncode, 2, user)
            self.assertEqual(refused.stdout, "")


if __name__ == "__main__":
    unittest.main()
