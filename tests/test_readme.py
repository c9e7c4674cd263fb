"""The README's example commands do what their comments say: the block under "How a
source is named" is read from README.md and run line by line, in a temporary folder, on
a folder shaped like the BBC archive (category/NNN.txt: five of its stories); every
`name` a line's comment quotes must be in that command's output, and a comment that
says `error: ...` expects exit 2 and that line on stderr.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from conftest import REPO, run_cli
from test_cli_newsroom import bbc_folder

pytestmark = pytest.mark.slow

ARCHIVE = "../shared/benchmarks/bbc-news/articles"


def readme_block(heading: str) -> list[str]:
    """The lines of the first code block after `heading` in README.md."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    after = text.split(heading, 1)[1]
    return after.split("```\n", 2)[1].strip().splitlines()


def test_the_readme_source_naming_examples_do_what_they_say(tmp_path):
    lines = readme_block("### How a source is named")
    assert len(lines) >= 4 and all(line.startswith("corpus-qa ") for line in lines), lines
    folder = bbc_folder(tmp_path)
    for line in lines:
        command, _, comment = line.partition("  # ")
        args = [str(folder) if a == ARCHIVE else a for a in shlex.split(command)[1:]]
        result = run_cli(args, cwd=tmp_path)
        quoted = re.findall(r"`([^`]+)`", comment)
        assert quoted, f"the README's comment names nothing to check: {line}"
        if comment.startswith("`error:"):
            assert result.returncode == 2, f"{command}: exit {result.returncode}"
            output = result.stderr
        else:
            assert result.returncode == 0, f"{command}: exit {result.returncode}: {result.stderr[-500:]}"
            output = result.stdout
        for name in quoted:
            assert name in output, f"{command}: the README says {name!r}, the output is:\n{output[:1000]}"
        if "nothing created" in comment:
            index = args[args.index("--index") + 1]
            assert not (tmp_path / index).exists(), f"{command} created {index}"
    assert Path(tmp_path / "bbc-ix").is_dir()
