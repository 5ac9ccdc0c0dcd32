"""Tests of the preference file (labdata.core.config) and its secrets (labdata.core.secrets)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from labdata.core import secrets
from labdata.core.config import CatalogKind, Preferences, default_preferences, n_jobs
from labdata.core.errors import ConfigError, LabdataWarning, SecretError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty labdata folder (it does not exist yet)."""
    return tmp_path / "labdata"


@pytest.fixture
def env(home: Path) -> dict[str, str]:
    return {"LABDATA_PATH": str(home)}


def write_prefs(home: Path, data: dict, name: str = "user_preferences.json") -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / name
    path.write_text(json.dumps(data))
    return path


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_first_load_creates_defaults(home: Path, env: dict[str, str]) -> None:
    prefs = Preferences.load(environ=env)
    path = home / "user_preferences.json"
    assert prefs.path == path and prefs.labdata_path == home
    on_disk = json.loads(path.read_text())
    assert on_disk == default_preferences()
    assert "hostname" not in on_disk and prefs["hostname"]
    assert on_disk["compute"]["analysis"]["populate"] == "labdata.compute.PopulateCompute"
    assert len(on_disk["compute"]["analysis"]) == 7
    assert on_disk["catalog"] == {"kind": "sqlite", "dsn": None, "data_path": None, "replica": True,
                                  "arrays_storage": None, "retention_days": 30}
    assert on_disk["database"]["name"] == "lab_data"
    assert mode(path) == 0o600
    assert sorted(os.listdir(home)) == ["user_preferences.json"]  # no key file until a secret


def test_save_is_atomic_sorted_and_keeps_mode(home: Path, env: dict[str, str]) -> None:
    prefs = Preferences.load(environ=env)
    prefs.path.chmod(0o640)
    prefs.set("upload_host", "rig-server")
    prefs.save()
    text = prefs.path.read_text()
    assert text == json.dumps(json.loads(text), sort_keys=True, indent=4) + "\n"
    assert json.loads(text)["upload_host"] == "rig-server"
    assert mode(prefs.path) == 0o640
    assert sorted(os.listdir(home)) == ["user_preferences.json"]  # no temp file left


def test_deep_merge_fills_missing_nested_keys(home: Path, env: dict[str, str]) -> None:
    write_prefs(home, {"compute": {"analysis": {"mine": "lab.Mine"}},
                       "storage": {"data": {"bucket": "lab-data"}}, "database": {"user": "ana"}})
    prefs = Preferences.load(environ=env)
    assert prefs["compute"]["analysis"]["mine"] == "lab.Mine"
    assert prefs["compute"]["analysis"]["suite2p"] == "labdata.compute.Suite2pCompute"
    assert prefs["compute"]["default_target"] == "slurm"
    expected = {**default_preferences()["storage"]["data"], "bucket": "lab-data"}
    assert prefs["storage"]["data"] == expected
    assert prefs["database"]["name"] == "lab_data" and prefs["database"]["user"] == "ana"
    assert prefs.get("catalog.kind") == "sqlite" and prefs["lake_path"] == "~/labdata/lake"
    prefs.save()  # defaults are not written into an existing file
    assert "catalog" not in json.loads(prefs.path.read_text())


def test_env_overrides_win_and_are_never_saved(home: Path, env: dict[str, str]) -> None:
    write_prefs(home, {"database": {"user": "disk-user", "host": "disk-host", "project": "p1"}})
    override = {
        **env, "LABDATA_DATABASE_USER": "env-user", "LABDATA_DATABASE_PASS": "env-pass",
        "LABDATA_DATABASE_HOST": "env-host", "LABDATA_DATABASE": "env-db",
        "LABDATA_DATABASE_PROJECT": "p2", "LABDATA_CATALOG_KIND": "postgres",
        "LABDATA_CATALOG_DSN": "dbname=lake host=db", "LABDATA_LAKE_PATH": "s3://bucket/lake",
    }
    prefs = Preferences.load(environ=override)
    database = prefs["database"]
    assert database["user"] == "env-user" and database["host"] == "env-host"
    assert database["name"] == "env-db"
    assert prefs.secret("database.password") == "env-pass"
    assert prefs.project == "p2"
    assert prefs.catalog.kind is CatalogKind.POSTGRES
    assert prefs.catalog.data_path == "s3://bucket/lake/catalog/data/"
    assert prefs.overridden["database.user"] == "LABDATA_DATABASE_USER"
    prefs.set("upload_storage", "data")
    prefs.save()
    text = prefs.path.read_text()
    for value in ("env-user", "env-pass", "env-host", "env-db", "p2", "postgres", "s3://"):
        assert value not in text
    again = Preferences.load(environ=env)
    assert again["database"]["user"] == "disk-user" and again.project == "p1"
    assert again["upload_storage"] == "data"
    assert again.secret("database.password") is None


def test_set_keeps_env_winning_but_saves_the_change(home: Path, env: dict[str, str]) -> None:
    prefs = Preferences.load(environ={**env, "LABDATA_DATABASE_USER": "env-user"})
    prefs.set("database.user", "me")
    assert prefs["database"]["user"] == "env-user"
    prefs.save()
    assert Preferences.load(environ=env)["database"]["user"] == "me"


def test_override_datapath(home: Path, env: dict[str, str], tmp_path: Path) -> None:
    prefs = Preferences.load(environ={**env, "LABDATA_OVERRIDE_DATAPATH": str(tmp_path / "d")})
    assert prefs["local_paths"] == [str(tmp_path / "d")]
    assert prefs["scratch_path"] == str(tmp_path / "d")
    assert prefs.local_paths == [tmp_path / "d"] and prefs.scratch_path == tmp_path / "d"
    prefs.save()
    assert json.loads(prefs.path.read_text())["local_paths"] == ["~/data"]


def test_plain_secrets_on_disk_are_encrypted(home: Path, env: dict[str, str]) -> None:
    dsn = "postgresql://ana:pg-pass@db:5432/lake"
    write_prefs(home, {
        "database": {"password": "db-pass"},
        "storage": {"data": {"access_key": "AKIADATA", "secret_key": "data-secret"},
                    "extra": {"protocol": "local", "secret_key": "extra-secret"}},
        "compute": {"aws": {"access_key": "AKIAAWS", "secret_key": "aws-secret"}},
        "catalog": {"kind": "postgres", "dsn": dsn},
    })
    prefs = Preferences.load(environ=env)
    text = prefs.path.read_text()
    plains = ("db-pass", "AKIADATA", "data-secret", "extra-secret", "AKIAAWS", "aws-secret")
    for plain in (*plains, "pg-pass"):
        assert plain not in text
    on_disk = json.loads(text)
    assert secrets.is_encrypted(on_disk["database"]["password"])
    assert secrets.is_encrypted(on_disk["catalog"]["dsn"])
    assert prefs.secret("database.password") == "db-pass"
    assert prefs.secret("storage.data.access_key") == "AKIADATA"
    assert prefs.secret("storage.extra.secret_key") == "extra-secret"
    assert prefs.secret("compute.aws.secret_key") == "aws-secret"
    assert prefs.catalog.dsn == dsn and "pg-pass" not in repr(prefs.catalog)
    assert mode(home / secrets.KEY_FILE_NAME) == 0o600


@pytest.mark.parametrize(("dsn", "secret"), [
    pytest.param("dbname=lake host=db user=ana password=pw1", True, id="keyword"),
    pytest.param("postgres://ana:pw1@db/lake", True, id="url"),
    pytest.param("dbname=lake host=db user=ana", False, id="no_password"),
    pytest.param("postgres://ana@db/lake", False, id="url_no_password"),
])
def test_dsn_encrypted_only_with_password(
    home: Path, env: dict[str, str], dsn: str, secret: bool
) -> None:
    write_prefs(home, {"catalog": {"kind": "postgres", "dsn": dsn}})
    prefs = Preferences.load(environ=env)
    assert (dsn not in prefs.path.read_text()) is secret
    assert prefs.catalog.dsn == dsn


def test_set_encrypts_secret_keys(home: Path, env: dict[str, str]) -> None:
    prefs = Preferences.load(environ=env)
    prefs.set("storage.data.secret_key", "s3-secret")
    prefs.set("storage", {**prefs["storage"], "archive": {"protocol": "s3", "access_key": "AKIA2"}})
    assert secrets.is_encrypted(prefs["storage"]["data"]["secret_key"])
    prefs.save()
    text = prefs.path.read_text()
    assert "s3-secret" not in text and "AKIA2" not in text
    again = Preferences.load(environ=env)
    assert again.secret("storage.data.secret_key") == "s3-secret"
    assert again.secret("storage.archive.access_key") == "AKIA2"


def test_set_rejects_bad_values_and_leaves_prefs_unchanged(env: dict[str, str]) -> None:
    prefs = Preferences.load(environ=env)
    with pytest.raises(ConfigError, match="allow_s3_download"):
        prefs.set("allow_s3_download", "yes")
    with pytest.raises(ConfigError, match="not JSON"):
        prefs.set("scratch_path", Path("/x"))
    with pytest.raises(ConfigError, match="hostname"):
        prefs.set("hostname", "x")
    with pytest.raises(ConfigError, match="not an object"):
        prefs.set("scratch_path.sub", "x")
    assert prefs["allow_s3_download"] is False and prefs["scratch_path"] == "~/scratch"


def test_key_file_mode_and_loose_mode_is_tightened(tmp_path: Path) -> None:
    key_file = tmp_path / "k" / secrets.KEY_FILE_NAME
    token = secrets.encrypt("hello", key_file=key_file)
    assert token.startswith("encrypted:") and mode(key_file) == 0o600
    assert secrets.encrypt(token, key_file=key_file) == token
    key_file.chmod(0o644)
    with pytest.warns(LabdataWarning, match="restricted"):
        assert secrets.decrypt(token, key_file=key_file) == "hello"
    assert mode(key_file) == 0o600
    assert secrets.decrypt("plain", key_file=tmp_path / "missing") == "plain"
    assert secrets.decrypt(None) is None


def test_wrong_key_raises_secret_error(home: Path, env: dict[str, str]) -> None:
    write_prefs(home, {"database": {"password": "db-pass"}})
    Preferences.load(environ=env)
    key_file = home / secrets.KEY_FILE_NAME
    key_file.write_bytes(Fernet.generate_key())
    prefs = Preferences.load(environ=env)
    with pytest.raises(SecretError, match=r"database\.password") as info:
        prefs.secret("database.password")
    assert "restore the key file" in info.value.hint and "Re-enter" in info.value.hint
    key_file.unlink()
    with pytest.raises(SecretError, match="does not exist"):
        prefs.secret("database.password")


def test_corrupt_key_file(tmp_path: Path) -> None:
    key_file = tmp_path / secrets.KEY_FILE_NAME
    key_file.write_bytes(b"not a key")
    key_file.chmod(0o600)
    with pytest.raises(SecretError, match="corrupt"):
        secrets.encrypt("x", key_file=key_file)


def test_malformed_json_names_file_and_position(home: Path, env: dict[str, str]) -> None:
    home.mkdir()
    path = home / "user_preferences.json"
    path.write_text('{\n    "local_paths": ["~/data"],\n    "scratch_path" "~/scratch"\n}\n')
    with pytest.raises(ConfigError, match=r"line 3, column 20") as info:
        Preferences.load(environ=env)
    assert str(path) in str(info.value) and "delete it" in info.value.hint


@pytest.mark.parametrize(("data", "key"), [
    pytest.param({"local_paths": "~/data"}, "local_paths", id="local_paths_str"),
    pytest.param({"local_paths": [1]}, "local_paths", id="local_paths_int"),
    pytest.param({"allow_s3_download": "false"}, "allow_s3_download", id="bool"),
    pytest.param({"storage": {"data": {"secret_key": 5}}}, "storage.data.secret_key", id="nested"),
    pytest.param({"database": "db"}, "database", id="section"),
    pytest.param([], "JSON list", id="not_object"),
])
def test_wrong_types_name_the_key(home: Path, env: dict[str, str], data: object, key: str) -> None:
    write_prefs(home, data)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=key):
        Preferences.load(environ=env)


def test_labdata_preferences_name_and_path(home: Path, env: dict[str, str], tmp_path: Path) -> None:
    write_prefs(home, {"upload_host": "by-name"}, name="second.json")
    elsewhere = tmp_path / "other" / "prefs.json"
    write_prefs(elsewhere.parent, {"upload_host": "by-path"}, name="prefs.json")
    by_name = Preferences.load(environ={**env, "LABDATA_PREFERENCES": "second.json"})
    assert by_name["upload_host"] == "by-name" and by_name.path == home / "second.json"
    by_path = Preferences.load(environ={**env, "LABDATA_PREFERENCES": str(elsewhere)})
    assert by_path["upload_host"] == "by-path" and by_path.labdata_path == home
    with pytest.raises(ConfigError, match="LABDATA_PREFERENCES") as info:
        Preferences.load(environ={**env, "LABDATA_PREFERENCES": "missing.json"})
    assert "unset it" in info.value.hint
    assert not (home / "missing.json").exists()
    empty = Preferences.load(environ={**env, "LABDATA_PREFERENCES": ""})
    assert empty.path == home / "user_preferences.json"


def test_explicit_path_is_created(tmp_path: Path, env: dict[str, str]) -> None:
    prefs = Preferences.load(tmp_path / "custom.json", environ=env)
    assert (tmp_path / "custom.json").is_file() and prefs.path == tmp_path / "custom.json"


def test_catalog_defaults_and_validation(home: Path, env: dict[str, str], tmp_path: Path) -> None:
    catalog = Preferences.load(environ={**env, "LABDATA_LAKE_PATH": str(tmp_path / "lake")}).catalog
    assert catalog.kind == "sqlite" and catalog.lake_path == str(tmp_path / "lake")
    assert catalog.data_path == str(tmp_path / "lake" / "catalog" / "data") + "/"
    assert catalog.dsn == str(tmp_path / "lake" / "catalog" / "catalog.sqlite")
    default = Preferences.load(environ=env).catalog
    assert default.lake_path == str(Path("~/labdata/lake").expanduser())
    custom = Preferences.load(environ={**env, "LABDATA_CATALOG_DATA_PATH": "~/cat"}).catalog
    assert custom.data_path == str(Path("~/cat").expanduser())
    assert custom.dsn == str(Path("~/labdata/lake/catalog/catalog.sqlite").expanduser())
    remote_data = {**env, "LABDATA_CATALOG_DATA_PATH": "s3://b/cat", "LABDATA_LAKE_PATH": "/l"}
    assert Preferences.load(environ=remote_data).catalog.data_path == "s3://b/cat"
    with pytest.raises(ConfigError, match=r"Unknown catalog\.kind 'mysql'") as info:
        _ = Preferences.load(environ={**env, "LABDATA_CATALOG_KIND": "mysql"}).catalog
    assert "sqlite" in info.value.hint and "postgres" in info.value.hint
    with pytest.raises(ConfigError, match=r"catalog\.dsn is not set"):
        _ = Preferences.load(environ={**env, "LABDATA_CATALOG_KIND": "postgres"}).catalog
    remote = {**env, "LABDATA_LAKE_PATH": "s3://b/lake"}
    with pytest.raises(ConfigError, match="remote"):
        _ = Preferences.load(environ=remote).catalog
    alias = Preferences.load(environ={**env, "LABDATA_CATALOG_KIND": "PostgreSQL",
                                      "LABDATA_CATALOG_DSN": "dbname=x"}).catalog
    assert alias.kind is CatalogKind.POSTGRES


def test_project_precedence(home: Path, env: dict[str, str]) -> None:
    assert Preferences.load(environ=env).project is None
    write_prefs(home, {"database": {"project": "mice"}})
    assert Preferences.load(environ=env).project == "mice"
    assert Preferences.load(environ={**env, "LABDATA_DATABASE_PROJECT": "rats"}).project == "rats"


def test_encrypted_env_password(home: Path, env: dict[str, str]) -> None:
    token = secrets.encrypt("from-job", key_file=home / secrets.KEY_FILE_NAME)
    prefs = Preferences.load(environ={**env, "LABDATA_DATABASE_PASS": token})
    assert prefs.secret("database.password") == "from-job"


def test_n_jobs() -> None:
    assert n_jobs({}) == 8
    assert n_jobs({"SLURM_CPUS_ON_NODE": "4"}) == 4
    assert n_jobs({"LABDATA_N_JOBS": "2", "SLURM_CPUS_ON_NODE": "4"}) == 2
    with pytest.raises(ConfigError, match="LABDATA_N_JOBS"):
        n_jobs({"LABDATA_N_JOBS": "many"})
    with pytest.raises(ConfigError, match="SLURM_CPUS_ON_NODE"):
        n_jobs({"SLURM_CPUS_ON_NODE": "0"})


def test_load_reads_os_environ_at_call_time(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    monkeypatch.setenv("LABDATA_PATH", str(home))
    monkeypatch.setenv("LABDATA_N_JOBS", "3")
    prefs = Preferences.load()
    assert prefs.labdata_path == home and prefs.n_jobs == 3


def test_getitem_and_get(env: dict[str, str]) -> None:
    prefs = Preferences.load(environ=env)
    prefs["compute"]["default_target"] = "local"  # a copy: no effect
    assert prefs["compute"]["default_target"] == "slurm"
    assert prefs.get("storage.data.bucket") == "xxxx-data" and prefs.get("nope.x", 1) == 1
    with pytest.raises(KeyError, match="Did you mean 'local_paths'"):
        prefs["local_path"]
    assert "catalog" in prefs and "hostname" in prefs.as_dict()


@pytest.mark.parametrize("module", ["labdata.core.config", "labdata.core.secrets"])
def test_import_does_no_io(tmp_path: Path, module: str) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "LABDATA_PATH": str(home / "labdata"),
           "PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO),
           "PYTHONDONTWRITEBYTECODE": "1"}
    code = f"import sys, {module}; assert 'cryptography' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, check=True)
    assert list(home.iterdir()) == []
