"""Reading a documentation page as data, and replaying its console sessions, so docs stay executable."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import typer
from typer.testing import CliRunner


def read_page(page: Path, *, keep_empty_tables: bool = False) -> list[tuple[str, object]]:
    """The page as ("block", (lang, text)) and ("table", rows-as-dicts) items, in order.

    A table with a header but no rows yields no rows, or one row of empty cells with `keep_empty_tables`.
    """
    items: list[tuple[str, object]] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            lang, body = line[3:].strip(), []
            i += 1
            while not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            items.append(("block", (lang, "\n".join(body))))
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append([cell.strip() for cell in lines[i].strip().strip("|").split("|")])
                i += 1
            table = [dict(zip(rows[0], row)) for row in rows[2:]]
            if not table and keep_empty_tables:
                table = [dict.fromkeys(rows[0], "")]
            items.append(("table", table))
            continue
        i += 1
    return items


def blocks(items: list[tuple[str, object]], lang: str) -> list[str]:
    return [text for kind, (block_lang, text) in ((k, v) for k, v in items if k == "block") if block_lang == lang]


def replay_session(app: typer.Typer, session: str, workdir: Path, *, json_stdout: bool = False) -> None:
    """Run a ```console block: `$ cat FILE` writes the lines after it, `$ invoiceflow ...` must print them."""
    runner = CliRunner()
    commands: list[tuple[str, list[str]]] = []
    for line in session.splitlines():
        if line.startswith("$ "):
            commands.append((line[2:], []))
        else:
            commands[-1][1].append(line)
    result = None
    for command, output in commands:
        argv = shlex.split(command)
        if argv[0] == "cat":
            (workdir / argv[1]).write_text("\n".join(output) + "\n", encoding="utf-8")
        elif argv[0] == "invoiceflow":
            result = runner.invoke(app, argv[1:])
            expected = "\n".join(output)
            if result.exit_code == 0:
                assert result.stdout.rstrip("\n") == expected
                if json_stdout:
                    json.loads(result.stdout)
            else:
                assert result.stderr.rstrip("\n") == expected
                assert result.stdout == ""
        elif command == "echo $?":
            assert result is not None and [str(result.exit_code)] == output
        else:
            raise AssertionError(f"unexpected command in a console session: {command}")
