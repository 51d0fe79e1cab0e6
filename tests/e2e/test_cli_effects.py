"""`invoiceflow effects list|show|retry|replay|run` and `invoiceflow worker --once` as a user runs them
(real subprocesses, SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

from invoiceflow.bootstrap import open_engine
from invoiceflow.clock import SystemClock
from invoiceflow.effects import enqueue
from invoiceflow.store.tenancy import tenant_id

APP = "import typer; from invoiceflow.commands.effects import register; app = typer.Typer(); register(app); app()"
HANDLERS = '''
import os

from invoiceflow.effects import Permanent, register


@register("email.send")
def send(effect, context):
    if effect.payload.get("to", "").endswith("@invalid") and not os.path.exists(os.environ["PROBE_FIXED"]):
        raise Permanent("550 mailbox unavailable")
    return {"message_id": "<" + effect.idempotency_key + "@mail>"}
'''


def cli(args, env, cwd, expect=0):
    result = subprocess.run([sys.executable, "-c", APP, *args], capture_output=True, text=True, env=env, cwd=cwd,
                            timeout=120)
    assert result.returncode == expect, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def setup(db_url, tmp_path):
    (tmp_path / "mail_handlers.py").write_text(HANDLERS)
    env = {**os.environ, "INVOICEFLOW_DATABASE_URL": db_url, "COLUMNS": "200", "INVOICEFLOW_ACTOR": "ops-alice",
           "PROBE_FIXED": str(tmp_path / "fixed"),
           "PYTHONPATH": os.pathsep.join([str(tmp_path), *filter(None, [os.environ.get("PYTHONPATH")])])}
    engine = open_engine(db_url)
    now = SystemClock().now() - timedelta(seconds=1)
    with engine.begin() as conn:
        tid = tenant_id(conn)
        for key, to in [("invoice:1:mail", "a@example.com"), ("invoice:2:mail", "b@invalid"),
                        ("invoice:3:mail", "c@example.com")]:
            enqueue(conn, tid, "email.send", target="smtp", payload={"to": to}, idempotency_key=key, at=now)
        # No built-in handler: Peppol needs the operator's access-point adapter, so it waits for one.
        enqueue(conn, tid, "peppol.send", target="access-point", payload={"invoice": 1},
                idempotency_key="invoice:1:peppol", at=now)
    return env


def by_key(listing):
    return {e["idempotency_key"]: e for e in listing}


def test_run_list_show_retry_replay(db_url, tmp_path):
    env = setup(db_url, tmp_path)
    run = cli(["effects", "run", "--handlers", "mail_handlers", "--json"], env, tmp_path)
    report = json.loads(run.stdout)
    assert (report["succeeded"], report["dead"], report["waiting_without_handler"]) == (2, 1, 1)

    effects = by_key(json.loads(cli(["effects", "list", "--json"], env, tmp_path).stdout))
    assert {k: e["status"] for k, e in effects.items()} == {
        "invoice:1:mail": "succeeded", "invoice:2:mail": "dead", "invoice:3:mail": "succeeded",
        "invoice:1:peppol": "pending"}
    dead = json.loads(cli(["effects", "list", "--status", "dead", "--json"], env, tmp_path).stdout)
    assert [e["idempotency_key"] for e in dead] == ["invoice:2:mail"]
    peppol = json.loads(cli(["effects", "list", "--kind", "peppol.send", "--json"], env, tmp_path).stdout)
    assert [e["idempotency_key"] for e in peppol] == ["invoice:1:peppol"]
    table = cli(["effects", "list", "--status", "dead"], env, tmp_path).stdout
    assert "invoice:2:mail" in table and "550 mailbox unavailable" in table and "invoice:1:mail" not in table

    dead_id = str(effects["invoice:2:mail"]["id"])
    shown = json.loads(cli(["effects", "show", dead_id, "--json"], env, tmp_path).stdout)
    assert shown["last_error"] == "550 mailbox unavailable [permanent failure]"
    assert [(a["attempt"], a["outcome"]) for a in shown["attempt_log"]] == [(1, "permanent")]
    text = cli(["effects", "show", dead_id], env, tmp_path).stdout
    assert "dead, attempt 1 of 8" in text and "permanent" in text and '"to": "b@invalid"' in text

    cli(["effects", "retry", dead_id], env, tmp_path)  # not fixed yet: one more attempt, dead again
    cli(["effects", "run", "--handlers", "mail_handlers"], env, tmp_path)
    again = json.loads(cli(["effects", "show", dead_id, "--json"], env, tmp_path).stdout)
    assert (again["status"], again["attempts"]) == ("dead", 2)

    (tmp_path / "fixed").write_text("mailbox created")
    replay = cli(["effects", "replay", dead_id], env, tmp_path)
    assert "will run again from attempt 1" in replay.stdout
    cli(["effects", "run", "--handlers", "mail_handlers"], env, tmp_path)
    fixed = json.loads(cli(["effects", "show", dead_id, "--json"], env, tmp_path).stdout)
    assert (fixed["status"], fixed["attempts"], fixed["result"]) == (
        "succeeded", 1, {"message_id": "<invoice:2:mail@mail>"})
    assert [a["outcome"] for a in fixed["attempt_log"]] == ["permanent", "permanent", "succeeded"]

    refused = cli(["effects", "replay", dead_id], env, tmp_path, expect=1)
    assert "already succeeded; pass --force" in refused.stderr
    cli(["effects", "replay", dead_id, "--force"], env, tmp_path)
    assert json.loads(cli(["effects", "show", dead_id, "--json"], env, tmp_path).stdout)["status"] == "pending"

    missing = cli(["effects", "show", "99999"], env, tmp_path, expect=1)
    assert "effect 99999 does not exist" in missing.stderr
    bad = cli(["effects", "list", "--status", "lost"], env, tmp_path, expect=2)
    assert "unknown status 'lost'" in bad.stderr


def test_worker_once_runs_what_is_due(db_url, tmp_path):
    env = setup(db_url, tmp_path)
    (tmp_path / "fixed").write_text("ok")
    worker = cli(["worker", "--once", "--handlers", "mail_handlers"], env, tmp_path)
    expected = "procrastinate worker on PostgreSQL" if db_url.startswith("postgresql") else "inline runner loop"
    assert expected in worker.stderr
    effects = by_key(json.loads(cli(["effects", "list", "--json"], env, tmp_path).stdout))
    assert {k: e["status"] for k, e in effects.items()} == {
        "invoice:1:mail": "succeeded", "invoice:2:mail": "succeeded", "invoice:3:mail": "succeeded",
        "invoice:1:peppol": "pending"}
    unknown = cli(["worker", "--once", "--handlers", "no_such_module"], env, tmp_path, expect=1)
    assert "cannot import effect handler module 'no_such_module'" in unknown.stderr
