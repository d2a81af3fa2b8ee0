"""Every command of the README works as printed after `make demo` (issue 16).

The rule. Every line of a fenced `sh` block (or bash / shell / console) of README.md that
starts with `printf`, `.venv/bin/linli` or `linli` is one case, run in README order with bash
(`-o pipefail`) from a copy of the project in which `make demo-data` has run — the current
`.venv` is linked into the copy, not installed again, and `.venv/bin` is on PATH as in an
activated virtualenv. The environment holds none of Linli's settings: what a command knows
comes from the `.env` that `make demo` wrote. A case fails when its exit status is not 0 or it
prints a traceback. These are skipped, each by name with its reason (`pytest -rs` lists them):

- `linli run`, `linli serve`, `linli deliver`: services that run until they are stopped;
- `linli console` without piped input: interactive;
- a line ending in a `# needs …` comment: it needs a chat platform's account the demo has not.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.config import Settings

ROOT = Path(__file__).resolve().parent.parent
PREFIXES = ("printf", ".venv/bin/linli", "linli")
FENCE = re.compile(r"^\s*```\s*(\w*)")
SHELLS = {"sh", "bash", "shell", "console"}
SERVICES = {"run", "serve", "deliver"}
NEEDS = re.compile(r"\s#\s*needs\b")
# Not part of a fresh clone: made by installing, testing or running the demo.
NOT_IN_A_CLONE = (
    ".venv",
    ".git",
    "__pycache__",
    "node_modules",
    ".pytest_cache",
    ".ruff_cache",
    ".mypy_cache",
    "*.egg-info",
    "build",
    ".env",
    "linli-demo.keys",
    "*.db",
    "*.db-wal",
    "*.db-shm",
    "*.db.leader",
)


@dataclass(frozen=True)
class Command:
    """One README line to run."""

    number: int  # its line in README.md
    line: str

    def skip_reason(self) -> str | None:
        """Why this line is not run (None: it is run)."""
        if NEEDS.search(self.line):
            return "needs a chat platform's account the demo does not have"
        lexer = shlex.shlex(self.line, posix=True, punctuation_chars="|&;")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        tokens = list(lexer)
        segments: list[list[str]] = [[]]
        for token in tokens:
            if token in {"|", "||", "&&", ";", "&"}:
                segments.append([])
            else:
                segments[-1].append(token)
        for index, words in enumerate(segments):
            if not words or Path(words[0]).name != "linli":
                continue
            sub = next((w for w in words[1:] if not w.startswith("-")), "")
            if sub in SERVICES:
                return f"`linli {sub}` is a service that runs until it is stopped"
            if sub == "console" and index == 0:
                return "`linli console` without piped input is interactive"
        return None


def readme_commands(text: str) -> list[Command]:
    """The lines of the README's fenced shell blocks that start with one of PREFIXES."""
    found: list[Command] = []
    language: str | None = None  # inside a fence: its language
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        fence = FENCE.match(raw)
        if fence:
            language = None if language is not None else fence.group(1).lower()
            continue
        if language not in SHELLS:
            continue
        line = raw.strip()
        if pending:
            pending += " " + line.removesuffix("\\").strip()
        elif line.startswith(PREFIXES):
            pending, start = line.removesuffix("\\").strip(), number
        else:
            continue
        if not line.endswith("\\"):
            found.append(Command(start, pending))
            pending = ""
    return found


COMMANDS = readme_commands((ROOT / "README.md").read_text(encoding="utf-8"))


def clean_env(project: Path) -> dict[str, str]:
    """The environment without any of Linli's settings, with the project's .venv/bin on PATH."""
    names = {name.upper() for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k.upper() not in names}
    for noise in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "VIRTUAL_ENV"):
        env.pop(noise, None)
    env["PATH"] = os.pathsep.join([str(project / ".venv" / "bin"), env.get("PATH", "")])
    return env


def fresh_copy(target: Path) -> Path:
    """The project as a fresh clone would have it, with this checkout's .venv linked in."""
    shutil.copytree(ROOT, target, ignore=shutil.ignore_patterns(*NOT_IN_A_CLONE), symlinks=True)
    (target / ".venv").symlink_to(ROOT / ".venv", target_is_directory=True)
    return target


def make_demo_data(project: Path) -> subprocess.CompletedProcess[str]:
    """`make demo-data` without re-installing (the linked .venv's stamp counts as up to date)."""
    return subprocess.run(
        ["make", "-o", ".venv/.installed", "demo-data"],
        cwd=project,
        env=clean_env(project),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the project after `make demo-data`."""
    if not (ROOT / ".venv" / "bin" / "linli").exists():
        pytest.skip("no .venv in the project: run `make install` first")
    copy = fresh_copy(tmp_path_factory.mktemp("clone") / "linli")
    made = make_demo_data(copy)
    assert made.returncode == 0, made.stdout + made.stderr
    assert "wrote .env" in made.stdout
    return copy


def test_the_readme_has_commands_to_run() -> None:
    """The extraction finds the README's commands (whatever else the README comes to say)."""
    assert [c for c in COMMANDS if c.skip_reason() is None], "no runnable command found"


def test_the_rule_reads_fences_continuations_pipes_and_skips_by_name() -> None:
    readme = "\n".join(
        [
            "`linli doctor` in prose is not a fenced line",
            "```sh",
            "make demo",
            "   .venv/bin/linli doctor   # a comment",
            "printf '/start\\n' | .venv/bin/linli console --as 陈秀英",
            "linli import residents \\",
            "  residents.xlsx",
            ".venv/bin/linli run",
            "linli --help && linli serve --port 8080",
            "linli deliver",
            ".venv/bin/linli console",
            "linli wechat menu   # needs WECHAT_APP_ID",
            "```",
            "```",
            "linli not a shell block",
            "```",
            "   ```bash",
            "   linli jobs run eligibility",
            "   ```",
        ]
    )
    found = readme_commands(readme)
    assert [(c.number, c.line) for c in found] == [
        (4, ".venv/bin/linli doctor   # a comment"),
        (5, "printf '/start\\n' | .venv/bin/linli console --as 陈秀英"),
        (6, "linli import residents residents.xlsx"),
        (8, ".venv/bin/linli run"),
        (9, "linli --help && linli serve --port 8080"),
        (10, "linli deliver"),
        (11, ".venv/bin/linli console"),
        (12, "linli wechat menu   # needs WECHAT_APP_ID"),
        (18, "linli jobs run eligibility"),
    ]
    reasons = [c.skip_reason() for c in found]
    assert reasons[:3] == [None, None, None] and reasons[-1] is None
    assert "`linli run` is a service" in str(reasons[3])
    assert "`linli serve` is a service" in str(reasons[4])
    assert "`linli deliver` is a service" in str(reasons[5])
    assert "interactive" in str(reasons[6])
    assert "needs a chat platform's account" in str(reasons[7])


@pytest.mark.parametrize("command", COMMANDS, ids=[f"L{c.number}:{c.line[:60]}" for c in COMMANDS])
def test_readme_command_works_as_printed(project: Path, command: Command) -> None:
    reason = command.skip_reason()
    if reason:
        pytest.skip(f"README line {command.number}: {reason}")
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command.line],
        cwd=project,
        env=clean_env(project),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    shown = f"README line {command.number}: {command.line}\n{done.stdout}\n{done.stderr}"
    assert done.returncode == 0, shown
    assert "Traceback" not in done.stderr + done.stdout, shown
