"""A lake of three projects served by the facade, built once per test module, with four accounts."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from lab_accounts import MEMBERS, PROJECTS  # noqa: E402 - after the path insert


@dataclass
class Lab:
    """The served lake: where it listens and each account's password."""

    root: Path
    lake: Any
    facade: Any
    port: int
    passwords: dict[str, str]
    _open: dict[str, Any] = field(default_factory=dict)

    def cursor(self, user: str) -> Any:
        """A cursor of ``user``'s connection, opened once and kept for the module."""
        if user not in self._open:
            self._open[user] = self.connect(user)
        return self._open[user].cursor()

    def close_all(self) -> None:
        for connection in self._open.values():
            connection.close()

    def connect(self, user: str, database: str | None = None, **options: Any) -> Any:
        import pymysql

        return pymysql.connect(host="127.0.0.1", port=self.port, user=user, password=self.passwords[user],
                               database=database, autocommit=True, **options)


def _seed(lake: Any, project: str) -> None:
    from facade_tables import LabNote

    from labdata.catalog import Context, use
    from labdata.schema import SpikeSortingParams, Subject

    with use(Context(lake, project)):
        Subject.insert1(dict(subject_name="S0", subject_dob="2023-01-01", subject_sex="M", strain_name="C57BL/6J",
                             user_name="couto"), skip_duplicates=True)
        SpikeSortingParams.insert1(dict(parameter_set_num=0, algorithm_name="seed", parameters_dict="{}"))
        LabNote.insert1(dict(note_id=0, note_text="seed"))


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """The demo's lake (project mice) plus rats and birds, each seeded, served on a free port."""
    from labdata.catalog import Lake
    from labdata.core.config import Preferences
    from labdata.schema.demo import run_demo
    from labdata.server import Facade, FacadeServer, add_account

    root = tmp_path_factory.mktemp("facade") / "lake"
    home = root.parent / "home"
    home.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LABDATA_PATH", str(home))
        patch.delenv("LABDATA_PREFERENCES", raising=False)
        run_demo(root, project="mice")
        lake = Lake("sqlite", root)
        for project in PROJECTS:
            _seed(lake, project)
        passwords = {name: add_account(lake, name, projects) for name, projects in MEMBERS.items()}
        passwords["boss"] = add_account(lake, "boss", admin=True)
        preferences = Preferences.load(home / "prefs.json")
    facade = Facade(lake, preferences=preferences, imports=["facade_tables"], query_timeout=2)
    server = FacadeServer(facade, port=0).start()
    try:
        served = Lab(root, lake, facade, server.port, passwords)
        yield served
        served.close_all()
    finally:
        server.stop()
        facade.close()
        lake.close()
        shutil.rmtree(root, ignore_errors=True)
