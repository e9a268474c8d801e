"""The scripts check DDN_TOKENS by exactly the function's rule, so an entry they deploy never stops a
cold start.

The cases are shared with the function's own test of its parser (`TokenTable::parse` in
lambda/src/auth.rs): lambda/tests/data/token_entries.json says, for each value, which users it
gives and what the scripts deploy, or why it is refused, with the message both sides print.
"""

from __future__ import annotations

import json
import os
import subprocess
import unittest

from support import DEPLOY_DIR, REPO_ROOT, new_token, tool_path

CASES = json.loads((REPO_ROOT / "lambda" / "tests" / "data" / "token_entries.json").read_text())


def checked(tokens: str) -> subprocess.CompletedProcess:
    """01's and 02's check of the function's settings, then the environment they would deploy."""
    return subprocess.run(
        ["bash", "-c", 'source "$1"; load_settings; check_function_settings; function_environment', "bash", str(DEPLOY_DIR / "lib.sh")],
        env={"PATH": tool_path(), "DDN_ENV_FILE": os.devnull, "AWS_REGION": "eu-west-1", "DDN_TOKENS": tokens},
        capture_output=True,
        text=True,
        timeout=60,
    )


def message(case: dict) -> str:
    return CASES["messages"][case["reason"]].format(entry=case.get("entry"), earlier=case.get("earlier"))


class TokenRule(unittest.TestCase):
    def test_accepted_values_deploy_their_entries_trimmed(self) -> None:
        for case in CASES["accepted"]:
            with self.subTest(case["about"]):
                process = checked(case["spec"])
                self.assertEqual(process.returncode, 0, process.stderr)
                deployed = json.loads(process.stdout)["Variables"]["DDN_TOKENS"]
                self.assertEqual(deployed, case["deployed"])
                self.assertEqual([entry.split(":")[0] for entry in deployed.split(",")], case["users"])

    def test_refused_values_stop_the_script_with_the_functions_message(self) -> None:
        for case in CASES["refused"]:
            with self.subTest(case["about"]):
                process = checked(case["spec"])
                self.assertEqual(process.returncode, 1, process.stdout)
                self.assertEqual(process.stdout, "")
                self.assertIn(f"error: {message(case)}", process.stderr)
                # A refusal names the entry by its number: no hash is ever shown.
                for entry in case["spec"].split(","):
                    hash_part = entry.strip().partition(":")[2]
                    if len(hash_part) >= 16:
                        self.assertNotIn(hash_part[:16], process.stderr)

    def test_the_cases_cover_every_reason(self) -> None:
        reasons = {case["reason"] for case in CASES["refused"]}
        self.assertEqual(reasons, set(CASES["messages"]))
        self.assertGreaterEqual(len(CASES["accepted"]), 5)

    def test_new_token_makes_an_entry_the_rule_accepts(self) -> None:
        _, alice = new_token("alice")
        _, bob = new_token("Team-7_b")
        process = checked(f"{alice},\n{bob}")
        self.assertEqual(process.returncode, 0, process.stderr)
        self.assertEqual(json.loads(process.stdout)["Variables"]["DDN_TOKENS"], f"{alice},{bob}")


if __name__ == "__main__":
    unittest.main()
