"""A real trytond server for the live Tryton connector tests, on a throwaway SQLite database.

Set-up happens once per test session, in three steps that each run in their own process so that trytond's
global configuration and pool never leak into the pytest process:

1. `trytond-admin --all -u account --activate-dependencies` creates the database and activates the
   accounting modules (company, currency, party come along); the admin password comes from TRYTONPASSFILE.
2. `python tryton_server.py seed CONFIG DATABASE` uses proteus in trytond's local mode (in-process with the
   database, no server yet) to add what a real company has: the company in USD, the 2026 fiscal year with
   monthly periods, the module's template chart, and the accounts our GL mappings name (codes below).
3. `trytond -c CONFIG -d DATABASE` serves JSON-RPC on a free loopback port; `start()` waits until it
   answers `common.server.version` and `stop()` ends that one process.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

DATABASE = "invoiceflow_erp"
ADMIN, PASSWORD = "admin", "admin-pass-for-tests"
COMPANY = "Invoiceflow Test Co"
JOURNAL = "REV"  # the account module's revenue journal
FISCAL_YEAR = 2026
# code -> (name, account type template in the module's English chart, party required)
ACCOUNTS = {
    "1000": ("Cash", "account_type_template_cash_en", False),
    "1100": ("Accounts receivable", "account_type_template_accounts_receivable_en", True),
    "2200": ("Sales tax payable", "account_type_template_current_tax_en", False),
    "2400": ("Deferred revenue", "account_type_template_unearned_revenue_en", False),
    "4000": ("Revenue", "account_type_template_revenue_en", False),
    "4100": ("API revenue", "account_type_template_revenue_en", False),
}
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(args: list[str], env: dict[str, str], what: str, timeout: float) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


@dataclass
class TrytonServer:
    """One trytond database and the HTTP server in front of it."""

    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_file(self) -> Path:
        return self.workdir / "trytond.conf"

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRYTON")}
        env.update(TRYTONPASSFILE=str(self.workdir / "admin.pass"), TRYTOND_CONFIG=str(self.config_file))
        return env

    def build(self) -> None:
        """Create, activate and seed the database (steps 1 and 2)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(
            f"[database]\nuri = sqlite://\npath = {self.workdir}\n\n"
            f"[web]\nlisten = 127.0.0.1:{self.port}\n\n[session]\ntimeout = 900\n")
        (self.workdir / "admin.pass").write_text(PASSWORD + "\n")
        (self.workdir / f"{DATABASE}.sqlite").touch()  # trytond's SQLite backend opens, never creates
        _run([str(BIN / "trytond-admin"), "-c", str(self.config_file), "-d", DATABASE, "--all",
              "--email", "admin@example.com", "-u", "account", "--activate-dependencies"],
             self._env(), "trytond-admin", timeout=240)
        _run([sys.executable, __file__, "seed", str(self.config_file), DATABASE], self._env(), "seeding",
             timeout=240)

    def start(self, wait: float = 60.0) -> None:
        """Start the HTTP server (step 3) and wait until it answers."""
        with open(self.workdir / "trytond.log", "ab") as log:  # the server keeps its own copy of the handle
            self.process = subprocess.Popen([str(BIN / "trytond"), "-c", str(self.config_file), "-d", DATABASE],
                                            env=self._env(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"trytond exited with {self.process.returncode}:\n{self.log_tail()}")
            if self._answers():
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"trytond did not answer on {self.url} within {wait:.0f}s:\n{self.log_tail()}")

    def _answers(self) -> bool:
        body = json.dumps({"id": 0, "method": "common.server.version", "params": []}).encode()
        request = urllib.request.Request(f"{self.url}/rpc/", data=body,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=2) as answer:
                return answer.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def count_moves(self, description: str) -> int:
        """How many account.move records carry `description`: asked independently of the connector."""
        return self.admin_call("model.account.move.search_count", [["description", "=", description]])

    def derive_move(self, move_id: int) -> int:
        """A draft copy of a move with its origin pointing at it, as Tryton's cancel wizard makes."""
        return self.admin_call("model.account.move.copy", [move_id], {"origin": f"account.move,{move_id}"})[0]

    def admin_call(self, method: str, *params):
        login = self._post("common.db.login", [ADMIN, {"password": PASSWORD}, "en"])
        token = base64.b64encode(f"{ADMIN}:{login[0]}:{login[1]}".encode()).decode()
        return self._post(method, [*params, {}], token)

    def _post(self, method: str, params: list, token: str | None = None):
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Session {token}"
        body = json.dumps({"id": 1, "method": method, "params": params}).encode()
        request = urllib.request.Request(f"{self.url}/{DATABASE}/rpc/", data=body, headers=headers)
        with urllib.request.urlopen(request, timeout=30) as answer:
            data = json.loads(answer.read())
        if data.get("error"):
            raise RuntimeError(f"{method}: {data['error']}")
        return data["result"]

    def log_tail(self, size: int = 4000) -> str:
        path = self.workdir / "trytond.log"
        return path.read_text(errors="replace")[-size:] if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def seed(config_file: str, database: str) -> None:
    """Company, fiscal year, periods, chart and our accounts, through proteus in trytond's local mode."""
    import datetime
    from decimal import Decimal

    from proteus import Model, Wizard
    from proteus import config as proteus_config

    config = proteus_config.set_trytond(database=database, config_file=config_file)
    Currency, Party, User = Model.get("currency.currency"), Model.get("party.party"), Model.get("res.user")
    ModelData = Model.get("ir.model.data")

    usd = Currency(name="U.S. Dollar", symbol="$", code="USD", rounding=Decimal("0.01"), digits=2)
    usd.save()
    Currency(name="Euro", symbol="€", code="EUR", rounding=Decimal("0.01"), digits=2).save()
    wizard = Wizard("company.company.config")
    wizard.execute("company")
    company_party = Party(name=COMPANY)
    company_party.save()
    wizard.form.party, wizard.form.currency = company_party, usd
    wizard.execute("add")
    config._context = User.get_preferences(True, {})
    company = Model.get("company.company").find()[0]

    sequence_type, = Model.get("ir.sequence.type").find([("name", "=", "Account Move")], limit=1)
    sequence = Model.get("ir.sequence.strict")(name=str(FISCAL_YEAR), sequence_type=sequence_type,
                                               company=company)
    sequence.save()
    year = Model.get("account.fiscalyear")(
        name=str(FISCAL_YEAR), start_date=datetime.date(FISCAL_YEAR, 1, 1),
        end_date=datetime.date(FISCAL_YEAR, 12, 31), company=company, move_sequence=sequence)
    year.save()
    year.click("create_period")

    chart = Wizard("account.create_chart")
    chart.execute("account")
    chart.form.account_template = Model.get("account.account.template")(
        ModelData.get_id("account.account_template_root_en", config.context))
    chart.form.company = company
    chart.execute("create_account")

    Account, Type = Model.get("account.account"), Model.get("account.account.type")
    root, = Account.find([("parent", "=", None), ("company", "=", company.id)])
    for code, (name, type_template, party_required) in ACCOUNTS.items():
        account_type, = Type.find([("template", "=", ModelData.get_id(f"account.{type_template}", {})),
                                   ("company", "=", company.id)])
        Account(name=name, code=code, parent=root, type=account_type, party_required=party_required,
                reconcile=party_required).save()

    receivable, = Account.find([("code", "=", "1100"), ("company", "=", company.id)])
    payable, = Account.find([("type.payable", "=", True), ("party_required", "=", True),
                             ("company", "=", company.id)], limit=1)
    chart.form.account_receivable, chart.form.account_payable = receivable, payable
    chart.execute("create_properties")


if __name__ == "__main__" and sys.argv[1:2] == ["seed"]:
    seed(sys.argv[2], sys.argv[3])
