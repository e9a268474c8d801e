"""The release `bootstrap` runs on Lambda's provided.al2023 runtime (Amazon Linux 2023, glibc 2.34).

A binary linked on a newer glibc may ask for symbol versions Amazon Linux 2023 lacks, and then fails
every cold start ("GLIBC_2.xx not found"). The dynamic symbol table says what it needs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import unittest

from support import cargo_build, cargo_target_dir

AL2023_GLIBC = (2, 34)


def glibc_needs(binary: str) -> dict[tuple[int, ...], list[str]]:
    """Each GLIBC symbol version the binary needs, with the symbols that need it."""
    table = subprocess.run(["objdump", "-T", binary], capture_output=True, text=True, timeout=120)
    if table.returncode != 0:
        if "not a dynamic object" in table.stderr:
            return {}
        raise AssertionError(f"objdump -T {binary} failed: {table.stderr}")
    needs: dict[tuple[int, ...], list[str]] = {}
    for line in table.stdout.splitlines():
        found = re.search(r"\bGLIBC_(\d+(?:\.\d+)+)\)?\s+(\S+)$", line)
        if found and "*UND*" in line:
            version = tuple(int(part) for part in found.group(1).split("."))
            needs.setdefault(version, []).append(found.group(2))
    return needs


class BootstrapBinary(unittest.TestCase):
    def test_it_needs_no_glibc_newer_than_amazon_linux_2023_has(self) -> None:
        self.assertIsNotNone(shutil.which("objdump"), "objdump is needed: apt-get install binutils")
        cargo_build("--release", "-p", "ddn-presign", "--bin", "bootstrap")
        binary = str(cargo_target_dir() / "release" / "bootstrap")
        needs = glibc_needs(binary)
        if not needs:
            return  # Statically linked: it needs no glibc at all.
        newest = max(needs)
        self.assertLessEqual(
            newest,
            AL2023_GLIBC,
            f"bootstrap needs GLIBC_{'.'.join(map(str, newest))} for {sorted(set(needs[newest]))}",
        )
        # The check itself finds what it looks for: the entry point's version is always listed.
        self.assertTrue(any("__libc_start_main" in symbols for symbols in needs.values()))


if __name__ == "__main__":
    unittest.main()
