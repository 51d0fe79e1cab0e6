"""Which ERP a tenant posts to, and how to reach it: read from the environment or a TOML file, never the database.

Credentials stay out of the database on purpose: the effects table and the audit log are read by operators
and copied into backups, and a token there would leak with them. A tenant's target is resolved in this order:

1. its own table `[tenants.<code>]` in the file named by INVOICEFLOW_ERP_CONFIG;
2. the environment: INVOICEFLOW_ERP_TARGET (builtin | http), INVOICEFLOW_ERP_URL, INVOICEFLOW_ERP_TOKEN,
   INVOICEFLOW_ERP_TIMEOUT;
3. the file's `[default]` table;
4. `builtin`: the built-in ledger.

In the file a setting named `<name>_env` is read from that environment variable (`token_env =
"ACME_ERP_TOKEN"`), which is how secrets are meant to be given. The file and the environment are read on
every call, so fixing a URL or a token takes effect at the next attempt, before a replay. The retry policy
of `erp.post` comes from the file's `[retry]` table or INVOICEFLOW_ERP_RETRY ("base_delay=30,lease=300"),
read when the handler module is imported (a worker's start). See docs/erp.md.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass
from typing import Any, Mapping

from invoiceflow.effects.policy import RetryPolicy, policy_for
from invoiceflow.errors import Problem, ValidationError
from invoiceflow.ledger.connectors.base import ErpConnector

TARGETS = ("builtin", "tryton", "netsuite", "sap", "dynamics", "oracle", "http")
ENV_TARGETS = ("builtin", "http")  # the others need mappings only the file can express
SECRETS = frozenset({"token", "password", "authorization"})
_RETRY_FIELDS = {"max_attempts": int, "base_delay": float, "max_delay": float, "lease": float}


@dataclass(frozen=True, slots=True)
class ErpTarget:
    """A tenant's ERP target: its name (one of TARGETS), its settings, and where they were found."""

    tenant: str
    name: str
    settings: Mapping[str, Any]
    source: str

    @property
    def record(self) -> str:
        return f"ERP target of tenant {self.tenant} ({self.source})"


def _file(environ: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
    path = environ.get("INVOICEFLOW_ERP_CONFIG", "").strip()
    if not path:
        return "", {}
    try:
        with open(path, "rb") as handle:
            return path, tomllib.load(handle)
    except OSError as exc:
        raise ValidationError(f"cannot read the ERP configuration file: {exc.strerror}", record=path,
                              field="INVOICEFLOW_ERP_CONFIG") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(f"is not valid TOML: {exc}", record=path, field="INVOICEFLOW_ERP_CONFIG") from exc


def _from_environment(environ: Mapping[str, str]) -> dict[str, Any] | None:
    if not environ.get("INVOICEFLOW_ERP_TARGET", "").strip():
        return None
    settings: dict[str, Any] = {"target": environ["INVOICEFLOW_ERP_TARGET"].strip()}
    for name in ("url", "token", "timeout"):
        value = environ.get(f"INVOICEFLOW_ERP_{name.upper()}", "").strip()
        if value:
            settings[name] = value
    return settings


def load_target(tenant: str, environ: Mapping[str, str] | None = None) -> ErpTarget:
    """The ERP target of `tenant` (see the module docstring for the order); only the name is checked here."""
    environ = os.environ if environ is None else environ
    path, document = _file(environ)
    tables = document.get("tenants", {})
    env = _from_environment(environ)
    if isinstance(tables, Mapping) and isinstance(tables.get(tenant), Mapping):
        raw, source = dict(tables[tenant]), f"{path} [tenants.{tenant}]"
    elif env is not None:
        raw, source = env, "environment INVOICEFLOW_ERP_*"
    elif isinstance(document.get("default"), Mapping):
        raw, source = dict(document["default"]), f"{path} [default]"
    else:
        raw, source = {"target": "builtin"}, "no configuration: the built-in ledger"
    name = str(raw.pop("target", "")).strip()
    allowed = ENV_TARGETS if source.startswith("environment") else TARGETS
    if name not in allowed:
        raise ValidationError(f"unknown ERP target {name!r}; use one of {', '.join(allowed)}"
                              + ("" if allowed == TARGETS else " (other targets are configured in the file named "
                                                               "by INVOICEFLOW_ERP_CONFIG)"),
                              record=f"ERP target of tenant {tenant} ({source})", field="target")
    return ErpTarget(tenant, name, raw, source)


def resolved_settings(target: ErpTarget, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The settings with every `<name>_env` replaced by that environment variable's value."""
    environ = os.environ if environ is None else environ
    settings: dict[str, Any] = {}
    for key, value in target.settings.items():
        if key.endswith("_env"):
            name = key.removesuffix("_env")
            if not environ.get(str(value)):
                raise ValidationError(f"environment variable {value!r} (the {name}) is not set", record=target.record,
                                      field=key)
            settings[name] = environ[str(value)]
        else:
            settings[key] = value
    return settings


def build_connector(target: ErpTarget, *, customer: str | None = None,
                    environ: Mapping[str, str] | None = None) -> ErpConnector | None:
    """The connector for `target` (None for the built-in ledger); a bad setting is a ValidationError.

    `customer` is the code of the invoice's customer: Tryton uses it as the party of receivable lines.
    """
    if target.name == "builtin":
        return None
    settings = resolved_settings(target, environ)
    try:
        return _connector(target, settings, customer)
    except (TypeError, ValueError) as exc:  # a setting of the wrong shape, refused by the connector itself
        raise ValidationError(f"the {target.name} connector refused its settings: {exc}", record=target.record) from exc


def _connector(target: ErpTarget, settings: Mapping[str, Any], customer: str | None) -> ErpConnector:
    if target.name == "http":
        from invoiceflow.ledger.connectors.http_json import HttpJsonConnector
        return HttpJsonConnector(**_kwargs(target, settings, required=("url",), optional=("token", "timeout"),
                                           numbers=("timeout",)))
    if target.name == "tryton":
        from invoiceflow.ledger.connectors.tryton import TrytonConnector
        args = _kwargs(target, settings, required=("url", "database", "user", "password", "company", "journal"),
                       optional=("default_party", "timeout"), numbers=("timeout",))
        args["default_party"] = args.get("default_party") or customer
        return TrytonConnector(args.pop("url"), args.pop("database"), args.pop("user"), **args)
    from invoiceflow.ledger import vendors
    config_class, connector_class = {
        "netsuite": (vendors.NetSuiteConfig, vendors.NetSuiteConnector),
        "sap": (vendors.SapConfig, vendors.SapConnector),
        "dynamics": (vendors.BusinessCentralConfig, vendors.BusinessCentralConnector),
        "oracle": (vendors.OracleConfig, vendors.OracleConnector),
    }[target.name]
    fields = dataclasses.fields(config_class)
    required = tuple(f.name for f in fields if f.default is dataclasses.MISSING
                     and f.default_factory is dataclasses.MISSING)
    optional = tuple(f.name for f in fields if f.name not in required)
    return connector_class(config_class(**_kwargs(target, settings, required=required, optional=optional,
                                                  numbers=("timeout",))))


def _kwargs(target: ErpTarget, settings: Mapping[str, Any], *, required: tuple[str, ...], optional: tuple[str, ...],
            numbers: tuple[str, ...]) -> dict[str, Any]:
    problems = [Problem(target.record, name, f"is required for target {target.name}"
                        + (f" (or {name}_env naming an environment variable)" if name in SECRETS else ""))
                for name in required if settings.get(name) in (None, "")]
    known = set(required) | set(optional)
    problems += [Problem(target.record, name, f"is not a setting of target {target.name}; known: "
                         f"{', '.join(sorted(known))}") for name in settings if name not in known]
    args = {name: value for name, value in settings.items() if name in known}
    for name in numbers:
        if name in args:
            try:
                args[name] = float(args[name])
            except (TypeError, ValueError):
                problems.append(Problem(target.record, name, f"must be a number of seconds, got {args[name]!r}"))
    if problems:
        raise ValidationError(problems)
    return args


def erp_retry_policy(environ: Mapping[str, str] | None = None) -> RetryPolicy:
    """The erp.post retry policy: the built-in one, changed by the file's [retry] or INVOICEFLOW_ERP_RETRY."""
    environ = os.environ if environ is None else environ
    path, document = _file(environ)
    changes: dict[str, Any] = dict(document.get("retry", {})) if isinstance(document.get("retry"), Mapping) else {}
    text = environ.get("INVOICEFLOW_ERP_RETRY", "").strip()
    record = "INVOICEFLOW_ERP_RETRY" if text else f"{path} [retry]"
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, value = item.partition("=")
        changes[name.strip()] = value.strip()
    problems = []
    for name, value in list(changes.items()):
        if name not in _RETRY_FIELDS:
            problems.append(Problem(record, name, f"is not a retry setting; use {', '.join(_RETRY_FIELDS)}"))
            continue
        try:
            changes[name] = _RETRY_FIELDS[name](value)
        except (TypeError, ValueError):
            problems.append(Problem(record, name, f"must be a number, got {value!r}"))
    if problems:
        raise ValidationError(problems)
    try:
        return dataclasses.replace(policy_for("erp.post"), **changes)
    except ValueError as exc:
        raise ValidationError(str(exc), record=record) from exc
