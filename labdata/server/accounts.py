"""Facade accounts: names, salted password hashes and project memberships, kept in the lake's catalog.

Accounts live in labdata's bookkeeping schema (never shown through the facade or in views), so a lab hands
out accounts without handing out the catalog. Names follow the original's rules (lowercase
``[a-z0-9][a-z0-9._-]{0,31}``, not ``root``, ``admin``, ``mysql``, ``ec2-user`` or ``rdsadmin``); passwords are
24 random bytes, URL-safe, shown once, and stored only as a salted scrypt hash.

Examples
--------
>>> password = add_account(lake, "alice", projects=["mice"])      # doctest: +SKIP
>>> verify_password(lake, "alice", password)                      # doctest: +SKIP
Grants(account='alice', projects=frozenset({'mice'}), admin=False)
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from labdata.catalog.engine.sqlquery import projects as lake_projects
from labdata.core.errors import AccountError, did_you_mean
from labdata.server.grants import Grants

if TYPE_CHECKING:
    from labdata.catalog.engine.lake import Lake

__all__ = ["RESERVED_NAMES", "account_grants", "add_account", "delete_account", "grant", "hash_password",
           "list_accounts", "password_matches", "revoke", "set_password", "verify_password"]

ACCOUNT_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")
RESERVED_NAMES = frozenset({"root", "admin", "ec2-user", "rdsadmin", "mysql", "mariadb.sys", "information_schema"})
_ACCOUNT_COLUMNS = "account_name VARCHAR, password_hash VARCHAR, is_admin BOOLEAN, created TIMESTAMP"
_ACCOUNTS = ("facade_accounts", f"{_ACCOUNT_COLUMNS}, password_changed TIMESTAMP")
_MEMBERS = ("facade_account_projects", "account_name VARCHAR, project VARCHAR")
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str) -> str:
    """A salted scrypt hash of ``password``: ``scrypt$n$r$p$salt$hash`` (base64)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    encode = base64.b64encode
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${encode(salt).decode()}${encode(digest).decode()}"


def password_matches(password: str, stored: str) -> bool:
    """Whether ``password`` hashes to ``stored`` (constant-time comparison)."""
    try:
        method, n, r, p, salt, digest = stored.split("$")
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                                dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return method == "scrypt" and hmac.compare_digest(actual, expected)


def _tables(lake: Lake) -> tuple[str, str]:
    return lake.internal_table(*_ACCOUNTS), lake.internal_table(*_MEMBERS)


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not ACCOUNT_NAME.fullmatch(name):
        raise AccountError(f"{name!r} is not a valid account name.",
                           hint="Use 1-32 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit.")
    if name in RESERVED_NAMES:
        raise AccountError(f"{name!r} is reserved.", hint=f"Choose another name; reserved: {sorted(RESERVED_NAMES)}.")
    return name


def _check_projects(lake: Lake, projects: Iterable[str]) -> list[str]:
    known, wanted = lake_projects(lake), list(dict.fromkeys(projects))
    for project in wanted:
        if project not in known:
            raise AccountError(f"The lake has no project {project!r}.{did_you_mean(project, known)}",
                               hint=f"Projects in this lake: {', '.join(known) or 'none yet'}.")
    return wanted


def _row(lake: Lake, name: str) -> tuple[Any, ...] | None:
    accounts, _ = _tables(lake)
    return lake.execute(f"SELECT account_name, password_hash, is_admin FROM {accounts} WHERE account_name = ?",
                        [name]).fetchone()


def _existing(lake: Lake, name: str) -> tuple[Any, ...]:
    row = _row(lake, name)
    if row is None:
        known = [r["account"] for r in list_accounts(lake)]
        raise AccountError(f"No account {name!r}.{did_you_mean(name, known)}",
                           hint="List the accounts with `labdata account list`.")
    return row


def add_account(lake: Lake, name: str, projects: Iterable[str] = (), *, admin: bool = False) -> str:
    """Create account ``name`` with membership of ``projects``; return its new password (shown once).

    Raises
    ------
    AccountError
        A bad, reserved or taken name, or an unknown project. Nothing is written then.
    """
    _check_name(name)
    wanted = _check_projects(lake, projects)
    password = secrets.token_urlsafe(24)
    stored, now = hash_password(password), dt.datetime.now(dt.UTC).replace(tzinfo=None)
    accounts, members = _tables(lake)

    def create() -> None:
        if _row(lake, name) is not None:
            raise AccountError(f"The account {name!r} exists already.",
                               hint=f"Grant it projects with `labdata account grant {name} -p PROJECT`.")
        lake.execute(f"INSERT INTO {accounts} VALUES (?, ?, ?, ?, ?)", [name, stored, admin, now, now])
        for project in wanted:
            lake.execute(f"INSERT INTO {members} VALUES (?, ?)", [name, project])

    lake.run(create)
    return password


def list_accounts(lake: Lake) -> list[dict[str, Any]]:
    """Every account: name, admin flag, projects, creation and last password change (no hashes)."""
    accounts, members = _tables(lake)
    rows = lake.execute(f"""
        SELECT a.account_name, a.is_admin, a.created, a.password_changed,
               list(m.project ORDER BY m.project) FILTER (WHERE m.project IS NOT NULL)
        FROM {accounts} a LEFT JOIN {members} m USING (account_name)
        GROUP BY ALL ORDER BY a.account_name""").fetchall()
    return [dict(account=name, admin=bool(admin), created=created, password_changed=changed,
                 projects=list(projects or [])) for name, admin, created, changed, projects in rows]


def account_grants(lake: Lake, name: str) -> Grants | None:
    """The grants of account ``name``, or None when there is no such account."""
    row = _row(lake, name)
    if row is None:
        return None
    _, members = _tables(lake)
    projects = lake.execute(f"SELECT project FROM {members} WHERE account_name = ?", [name]).fetchall()
    return Grants(name, frozenset(p for (p,) in projects), admin=bool(row[2]))


def verify_password(lake: Lake, name: str, password: str) -> Grants | None:
    """The grants of ``name`` if ``password`` is its password, else None."""
    row = _row(lake, name)
    if row is None or not password_matches(password, row[1]):
        return None
    return account_grants(lake, name)


def grant(lake: Lake, name: str, projects: Iterable[str]) -> None:
    """Make account ``name`` a member of ``projects`` (those it has are kept)."""
    _existing(lake, name)
    wanted = _check_projects(lake, projects)
    _, members = _tables(lake)

    def add() -> None:
        held = {p for (p,) in lake.execute(f"SELECT project FROM {members} WHERE account_name = ?", [name]).fetchall()}
        for project in wanted:
            if project not in held:
                lake.execute(f"INSERT INTO {members} VALUES (?, ?)", [name, project])

    lake.run(add)


def revoke(lake: Lake, name: str, projects: Iterable[str]) -> None:
    """End account ``name``'s membership of ``projects``."""
    _existing(lake, name)
    _, members = _tables(lake)
    def remove() -> None:
        for project in projects:
            lake.execute(f"DELETE FROM {members} WHERE account_name = ? AND project = ?", [name, project])

    lake.run(remove)


def set_password(lake: Lake, name: str) -> str:
    """Give account ``name`` a new random password; return it (shown once)."""
    _existing(lake, name)
    accounts, _ = _tables(lake)
    password = secrets.token_urlsafe(24)
    stored, now = hash_password(password), dt.datetime.now(dt.UTC).replace(tzinfo=None)
    lake.run(lambda: lake.execute(f"UPDATE {accounts} SET password_hash = ?, password_changed = ? "
                                  "WHERE account_name = ?", [stored, now, name]))
    return password


def delete_account(lake: Lake, name: str) -> None:
    """Delete account ``name`` and its memberships."""
    _existing(lake, name)
    accounts, members = _tables(lake)

    def delete() -> None:
        lake.execute(f"DELETE FROM {members} WHERE account_name = ?", [name])
        lake.execute(f"DELETE FROM {accounts} WHERE account_name = ?", [name])

    lake.run(delete)
