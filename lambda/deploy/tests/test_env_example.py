""".env.example documents every setting the scripts and the function read."""

from __future__ import annotations

import re
import subprocess
import unittest

from support import DEPLOY_DIR, REPO_ROOT, tool_path

# Names the scripts use that are not settings: constants of lib.sh.
NOT_SETTINGS = {"DDN_TAG_KEY", "DDN_TAG_VALUE"}
# Settings documented in a comment rather than given a value.
COMMENTED = {"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "DDN_ENV_FILE"}


def read_by_scripts() -> set[str]:
    names: set[str] = set()
    # The scripts, and the parts of lib.sh in lib/.
    for script in DEPLOY_DIR.rglob("*.sh"):
        for name in re.findall(r"\$\{?((?:DDN|AWS)_[A-Z0-9_]+|ACCOUNT_ID|RUST_LOG)\b", script.read_text()):
            names.add(name)
    return names - NOT_SETTINGS - {"AWS_DEFAULT_REGION", "AWS_PAGER"}


def read_by_function() -> set[str]:
    config = (REPO_ROOT / "lambda" / "src" / "config.rs").read_text()
    return set(re.findall(r'pub const ENV_[A-Z0-9_]+: &str = "([A-Z0-9_]+)";', config)) | {"RUST_LOG", "AWS_REGION"}


class EnvExample(unittest.TestCase):
    def test_every_setting_is_in_the_example(self) -> None:
        example = (DEPLOY_DIR / ".env.example").read_text()
        assigned = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", example, re.MULTILINE))
        commented = {name for name in COMMENTED if name in example}
        wanted = read_by_scripts() | read_by_function()
        self.assertGreater(len(wanted), 25, "the name patterns still find the settings")
        self.assertEqual(wanted - assigned - commented, set())

    def test_a_copy_of_the_example_is_valid_as_it_is(self) -> None:
        loaded = subprocess.run(
            ["bash", "-c", 'source "$1"; load_settings; echo "$DDN_IN_BUCKET $DDN_LAMBDA_MEMORY_MB $DDN_API_URL."', "bash", str(DEPLOY_DIR / "lib.sh")],
            env={"PATH": tool_path(), "DDN_ENV_FILE": str(DEPLOY_DIR / ".env.example")},
            capture_output=True,
            text=True,
            timeout=60,
        )
        self.assertEqual(loaded.returncode, 0, loaded.stderr)
        self.assertEqual(loaded.stdout, "ddn-in-bucket 128 .\n")

    def test_the_old_scripts_names_are_kept(self) -> None:
        example = (DEPLOY_DIR / ".env.example").read_text()
        for name in ("DDN_IN_BUCKET", "DDN_OUT_BUCKET", "DDN_LAMBDA_ROLE", "DDN_LAMBDA_FUNC_NAME",
                     "AWS_REGION", "ACCOUNT_ID", "DDN_TEST_IMAGE_PATH", "DDN_TEST_IMAGE_KEY"):
            self.assertRegex(example, rf"(?m)^{name}=")


if __name__ == "__main__":
    unittest.main()
