"""Real MySQL clients against the facade: pymysql, the mariadb command line, SQLAlchemy (reflection), pandas."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest


def test_pymysql_reads_the_projects_it_may_and_joins_across_their_schemas(lab) -> None:
    with lab.connect("alice") as connection, connection.cursor() as cursor:
        cursor.execute("SHOW DATABASES")
        databases = {row[0] for row in cursor.fetchall()}
        assert {"lab_data", "lab_data_mice", "lab_data_mice_computed", "lab_data_mice_user"} <= databases
        assert not {d for d in databases if "rats" in d or "birds" in d}, databases
        cursor.execute("SELECT subject_name, count(*) AS n FROM lab_data_mice.session "
                       "JOIN lab_data_mice.subject USING (subject_name) WHERE subject_name LIKE %s "
                       "GROUP BY subject_name ORDER BY subject_name", ("JC%",))
        assert cursor.fetchall() == (("JC178", 2), ("JC179", 2), ("JC180", 2))
        cursor.execute("SELECT s.subject_name, p.algorithm_name FROM lab_data_mice.subject s "
                       "CROSS JOIN lab_data_mice_computed.spike_sorting_params p WHERE s.subject_name = 'S0'")
        assert cursor.fetchall() == (("S0", "seed"),)
        cursor.execute("USE lab_data_mice")
        cursor.execute("SELECT DATE_FORMAT(session_datetime, '%Y-%m') AS month, IFNULL(experimenter, 'none') "
                       "FROM session ORDER BY session_datetime LIMIT 1")
        assert cursor.fetchall() == (("2024-03", "couto"),)


LEAVING_CLIENT = """
import os, sys, pymysql
connection = pymysql.connect(host="127.0.0.1", port=int(sys.argv[1]), user="boss", password=sys.argv[2],
                             cursorclass=pymysql.cursors.SSCursor)
cursor = connection.cursor()
cursor.execute("SELECT a.subject_name FROM lab_data_mice.session a, lab_data_mice.session b, "
               "lab_data_mice.session c, lab_data_mice.dataset d")
print(len(cursor.fetchmany(10)), flush=True)
os._exit(0)  # gone mid-result, without a word to the server
"""


def test_results_stream_in_batches_and_a_client_leaving_mid_result_frees_its_cursor(lab) -> None:
    import sys
    import time

    result = subprocess.run([sys.executable, "-c", LEAVING_CLIENT, str(lab.port), lab.passwords["boss"]],
                            capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "10", result.stderr
    with lab.connect("alice") as other, other.cursor() as again:
        again.execute("SELECT count(*) FROM lab_data_mice.subject")
        assert again.fetchone()[0] >= 4
    deadline = time.monotonic() + 30
    while any(record.account == "boss" for record in lab.facade.sessions.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert all(record.account != "boss" for record in lab.facade.sessions.values()), "the session was closed"


def test_describe_information_schema_and_show_create_table_follow_the_declarations(lab) -> None:
    with lab.connect("alice", database="lab_data_mice") as connection, connection.cursor() as cursor:
        cursor.execute("DESCRIBE session")
        fields = {row[0]: row[1:4] for row in cursor.fetchall()}
        assert fields["subject_name"] == ("varchar(20)", "NO", "PRI")
        assert fields["experimenter"][:2] == ("varchar(32)", "YES")
        cursor.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'lab_data_rats'")
        assert cursor.fetchall() == (), "another project's tables are not listed"
        cursor.execute("SHOW CREATE TABLE session")
        create = cursor.fetchone()[1]
        assert "PRIMARY KEY (`subject_name`, `session_name`)" in create
        assert "REFERENCES `lab_data_mice`.`subject` (`subject_name`)" in create


def test_sqlalchemy_reflects_session_and_spike_sorting_unit_and_pandas_reads(lab) -> None:
    import pandas as pd
    import sqlalchemy as sa

    engine = sa.create_engine(f"mysql+pymysql://carol:{lab.passwords['carol']}@127.0.0.1:{lab.port}/lab_data_mice")
    try:
        inspector = sa.inspect(engine)
        assert "lab_data_rats" in inspector.get_schema_names()
        assert "session" in inspector.get_table_names()
        session = sa.Table("session", sa.MetaData(), autoload_with=engine)
        assert [c.name for c in session.primary_key.columns] == ["subject_name", "session_name"]
        unit = sa.Table("spike_sorting__unit", sa.MetaData(), schema="lab_data_mice_computed", autoload_with=engine)
        assert "unit_id" in unit.columns and unit.primary_key.columns
        with engine.connect() as connection:
            rows = connection.execute(sa.select(session.c.subject_name).where(
                session.c.subject_name == sa.bindparam("name")), {"name": "JC179"}).fetchall()
            assert len(rows) == 2
            frame = pd.read_sql("SELECT subject_name, subject_sex FROM subject ORDER BY subject_name", connection)
        assert list(frame.columns) == ["subject_name", "subject_sex"] and "JC178" in set(frame.subject_name)
    finally:
        engine.dispose()


def _mariadb() -> str:
    binary = shutil.which("mariadb")
    if binary is None:
        reason = "the mariadb command-line client is not installed (apt install mariadb-client)"
        if os.environ.get("LABDATA_REQUIRE_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return binary


def test_the_mariadb_command_line_client_logs_in_and_queries(lab) -> None:
    command = [_mariadb(), "-h", "127.0.0.1", "-P", str(lab.port), "-u", "bob", f"-p{lab.passwords['bob']}",
               "--batch", "lab_data_rats", "-e", "SHOW TABLES LIKE 'subj%'; SELECT subject_name FROM subject;"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "subject" in result.stdout and "S0" in result.stdout
    denied = subprocess.run([*command[:-2], "-e", "SELECT * FROM lab_data_mice.subject"], capture_output=True,
                            text=True, timeout=60)
    assert denied.returncode == 1 and "1044" in denied.stderr and "lab_data_mice" in denied.stderr
    wrong = subprocess.run([*command[:6], "-pwrong", "-e", "SELECT 1"], capture_output=True, text=True, timeout=60)
    assert "1045" in wrong.stderr


CHANGE_NOTE = """
import sys
from labdata.catalog import Context, Lake, use
from facade_tables import LabNote
from labdata.compute.queue import submit
with Lake("sqlite", sys.argv[1]) as lake, use(Context(lake, "mice")) as context:
    if sys.argv[2] == "update":
        LabNote.update1(dict(note_id=900, note_text="edited"))
    else:  # a compute task (its own process, `labdata task N`) deletes the note
        assert submit(context, "delete-note", target="local", args=["--note", "900"]).job_ids
"""


def test_a_row_keeps_its_history_from_every_surface_with_who_and_what(lab, tmp_path) -> None:
    import sys

    from facade_tables import LabNote

    from labdata.catalog import Context
    from labdata.catalog.ops.history import row_history

    with lab.cursor("alice") as cursor:
        cursor.execute("INSERT INTO lab_data_mice_user.lab_note (note_id, note_text) VALUES (900, 'first')")
    script = tmp_path / "edit_note.py"
    script.write_text(CHANGE_NOTE)
    here = os.path.dirname(__file__)
    preferences = tmp_path / "prefs.json"
    preferences.write_text(json.dumps({"compute": {"analysis": {"delete-note": "facade_tables.DeleteNote"}}}))
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([here, os.environ.get("PYTHONPATH", "")]),
                       LABDATA_PREFERENCES=str(preferences))
    for action, user in (("update", "bob"), ("task", "carol")):
        subprocess.run([sys.executable, str(script), str(lab.root), action], check=True, timeout=120,
                       env=dict(environment, LABDATA_USER=user), capture_output=True)
    changes = row_history(LabNote(Context(lab.lake, "mice")), {"note_id": 900})
    seen = [(c["author"], c["change"], c["values"]["note_text"], c["command"].split(" ")[0]) for c in changes]
    assert seen == [("alice", "insert", "first", "facade:"), ("bob", "update (old)", "first", "edit_note.py"),
                    ("bob", "update (new)", "edited", "edit_note.py"), ("carol", "delete", "edited", "task")]
    assert "INSERT INTO lab_data_mice_user.lab_note" in changes[0]["command"]
    assert "delete-note" in changes[3]["command"], "the task's analysis and command are noted"
    history = subprocess.run([sys.executable, "-m", "labdata.cli", "history", "facade_tables.LabNote",
                              "-r", "note_id = 900", "-p", "mice", "--path", str(lab.root)], capture_output=True,
                             text=True, timeout=120, env=dict(environment, LABDATA_PATH=str(tmp_path)))
    assert history.returncode == 0, history.stderr
    lines = history.stdout.splitlines()
    assert len(lines) == 4 and "alice" in lines[0] and "note_text=first" in lines[0] and "carol" in lines[3]


def test_an_admin_sees_every_connection_and_may_end_it_others_see_and_end_only_their_own(lab) -> None:
    import pymysql

    alice = lab.connect("alice")
    with alice.cursor() as cursor:
        cursor.execute("SELECT CONNECTION_ID()")
        alice_id = cursor.fetchone()[0]
        cursor.execute("SHOW PROCESSLIST")
        assert {row[1] for row in cursor.fetchall()} == {"alice"}
    with lab.connect("bob") as bob, bob.cursor() as cursor:
        with pytest.raises(pymysql.err.OperationalError) as refused:
            cursor.execute(f"KILL {alice_id}")
        assert refused.value.args[0] == 1095
    with lab.connect("boss") as boss, boss.cursor() as cursor:
        cursor.execute("SHOW PROCESSLIST")
        rows = cursor.fetchall()
        assert {"alice", "boss"} <= {row[1] for row in rows}
        assert any(row[7] and "PROCESSLIST" in row[7] for row in rows), "the running statement is shown"
        cursor.execute(f"KILL {alice_id}")
    with pytest.raises(pymysql.err.MySQLError), alice.cursor() as cursor:
        cursor.execute("SELECT 1 FROM lab_data_mice.subject LIMIT 1")


def test_tls_handshakes_succeed_every_time_when_a_certificate_is_configured(lab, tmp_path) -> None:
    """20 handshakes in a row: before TlsSafeStream about half waited 60 s for a ClientHello already read."""
    import ssl

    import pymysql

    from labdata.server import FacadeServer, tls_context

    certificate, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(certificate), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=60)
    server = FacadeServer(lab.facade, port=0, tls=tls_context(certificate, key)).start()
    try:
        for _ in range(20):
            connection = pymysql.connect(host="127.0.0.1", port=server.port, user="alice",
                                         password=lab.passwords["alice"], ssl={"ca": str(certificate)},
                                         connect_timeout=10, read_timeout=10)
            try:
                assert isinstance(connection._sock, ssl.SSLSocket), "the password crossed an encrypted connection"
                with connection.cursor() as cursor:
                    cursor.execute("SELECT count(*) FROM lab_data_mice.subject")
                    assert cursor.fetchone()[0] >= 4
            finally:
                connection.close()
    finally:
        server.stop()


def test_a_tls_certificate_that_cannot_be_read_is_a_configuration_error(tmp_path) -> None:
    from labdata.core.errors import ConfigError
    from labdata.server import tls_context

    (tmp_path / "key.pem").write_text("not a key")
    with pytest.raises(ConfigError, match="certificate"):
        tls_context(tmp_path / "missing.pem", tmp_path / "key.pem")


def test_an_admin_sees_recent_errors_of_every_account_others_only_their_own(lab) -> None:
    import pymysql

    with lab.cursor("bob") as cursor, pytest.raises(pymysql.err.OperationalError):
        cursor.execute("SELECT * FROM lab_data_mice.subject WHERE subject_name = 'bob-was-here'")
    with lab.cursor("alice") as cursor, pytest.raises(pymysql.err.ProgrammingError):
        cursor.execute("SELECT * FROM lab_data_mice.no_such_table_of_alice")
    with lab.cursor("boss") as cursor:
        cursor.execute("SHOW ERRORS")
        columns = [d[0] for d in cursor.description]
        rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    assert columns == ["Level", "Code", "Message", "Time", "User", "Statement"]
    bob = next(r for r in rows if "bob-was-here" in r["Statement"])
    assert (bob["User"], bob["Code"]) == ("bob", 1044) and "Access denied" in bob["Message"]
    assert any(r["User"] == "alice" and r["Code"] == 1146 for r in rows)
    with lab.cursor("bob") as cursor:
        cursor.execute("SHOW ERRORS")
        assert {row[4] for row in cursor.fetchall()} == {"bob"}
