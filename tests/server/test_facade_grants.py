"""Who may do what through the facade: the permission matrix, and bad input that writes nothing."""

from __future__ import annotations

import itertools

import pymysql
import pytest
from lab_accounts import MEMBERS, PROJECTS

# per schema kind: a table, a new row's columns (keyed by a number), the column UPDATE changes, and its key column
KINDS = {
    "data": ("", "subject", ("(subject_name, subject_dob, subject_sex, strain_name, user_name) VALUES "
                             "('N{n}', '2023-01-01', 'F', 'C57BL/6J', 'couto')"),
             "subject_sex = 'U'", "subject_name", "'N{n}'", "'S0'"),
    "computed": ("_computed", "spike_sorting_params", ("(parameter_set_num, algorithm_name, parameters_dict) VALUES "
                 "({n}, 'new', '{{}}')"), "algorithm_name = 'changed'", "parameter_set_num", "{n}", "0"),
    "user": ("_user", "lab_note", "(note_id, note_text) VALUES ({n}, 'new')", "note_text = 'changed'", "note_id",
             "{n}", "0"),
}
ALLOWED = {"data": {"SELECT", "INSERT", "UPDATE"}, "computed": {"SELECT", "INSERT", "UPDATE", "DELETE"},
           "user": {"SELECT", "INSERT", "UPDATE", "DELETE"}}
DENIED = (1044, 1142)


def _count(lab, database: str, table: str, where: str) -> int:
    with lab.cursor("boss") as cursor:
        cursor.execute(f"SELECT count(*) FROM {database}.{table} WHERE {where}")
        return cursor.fetchone()[0]


def _try(lab, user: str, sql: str) -> int | None:
    """None when the statement ran, else its MySQL error number."""
    with lab.cursor(user) as cursor:
        try:
            cursor.execute(sql)
            cursor.fetchall()
        except pymysql.MySQLError as error:
            return error.args[0]
    return None


def _cell(lab, user: str, project: str, kind: str, number: int) -> dict[str, str]:
    suffix, table, values, change, key, new_key, seed_key = KINDS[kind]
    database, new = f"lab_data_{project}{suffix}", new_key.format(n=number)
    member, outcome = project in MEMBERS[user], {}
    statements = {
        "SELECT": f"SELECT * FROM {database}.{table}",
        "INSERT": f"INSERT INTO {database}.{table} {values.format(n=number)}",
        "UPDATE": f"UPDATE {database}.{table} SET {change} WHERE {key} = {seed_key if not member else new}",
        "DELETE": f"DELETE FROM {database}.{table} WHERE {key} = {new if member else seed_key}",
    }
    for action, sql in statements.items():
        allowed = member and action in ALLOWED[kind]
        where = f"{key} = {seed_key}" + (f" AND {change}" if action == "UPDATE" else "")
        before = None if allowed or action == "SELECT" else _count(lab, database, table, where)
        error = _try(lab, user, sql)
        if allowed:
            assert error is None, f"{user} {action} on {database}.{table}: error {error}"
        else:
            assert error in DENIED, f"{user} {action} on {database}.{table} was not denied: {error}"
            after = None if action == "SELECT" else _count(lab, database, table, where)
            assert after == before, "a refused statement changed nothing"
        outcome[action] = "ok" if error is None else str(error)
    if not member:
        assert _count(lab, database, table, f"{key} = {new}") == 0, "a refused INSERT wrote nothing"
    if member and "DELETE" not in ALLOWED[kind]:
        assert _count(lab, database, table, f"{key} = {new}") == 1, "the row inserted stays"
    return outcome


def test_the_permission_matrix_of_three_users_three_projects_and_each_schema_kind(lab, capsys) -> None:
    numbers = itertools.count(100)
    lines = [f"{'user':<6} {'database':<26} {'SELECT':>6} {'INSERT':>6} {'UPDATE':>6} {'DELETE':>6}"]
    for user, project, kind in itertools.product(MEMBERS, PROJECTS, KINDS):
        outcome = _cell(lab, user, project, kind, next(numbers))
        database = f"lab_data_{project}{KINDS[kind][0]}"
        lines.append(f"{user:<6} {database:<26} " + " ".join(f"{outcome[a]:>6}" for a in outcome))
    for user in MEMBERS:  # lab-wide: read, insert, update; never delete (File rows stay)
        assert _try(lab, user, "SELECT * FROM lab_data.species") is None
        assert _try(lab, user, f"INSERT INTO lab_data.species (species_name, species_scientific_name) "
                               f"VALUES ('sp_{user}', 'Species {user}')") is None
        assert _try(lab, user, f"UPDATE lab_data.species SET species_scientific_name = 'x' "
                               f"WHERE species_name = 'sp_{user}'") is None
        assert _try(lab, user, f"DELETE FROM lab_data.species WHERE species_name = 'sp_{user}'") == 1142
        lines.append(f"{user:<6} {'lab_data':<26} {'ok':>6} {'ok':>6} {'ok':>6} {'1142':>6}")
    with capsys.disabled():
        print("\n" + "\n".join(lines))


def test_no_row_of_a_project_reaches_a_user_without_a_grant_on_it(lab) -> None:
    assert _try(lab, "alice", "SELECT * FROM lab_data_mice.subject JOIN lab_data_rats.subject USING (subject_name)") \
        in DENIED
    assert _try(lab, "alice", "SELECT * FROM lab_data_mice.subject WHERE subject_name IN "
                              "(SELECT subject_name FROM lab_data_rats.subject)") in DENIED
    assert _try(lab, "alice", "WITH r AS (SELECT * FROM lab_data_birds.subject) SELECT * FROM r") in DENIED
    with lab.connect("alice") as connection, connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT table_schema FROM information_schema.columns")
        schemas = {row[0] for row in cursor.fetchall()}
    assert schemas and not {s for s in schemas if "rats" in s or "birds" in s}, schemas
    with lab.connect("carol") as connection, connection.cursor() as cursor:  # a member of both may join them
        cursor.execute("SELECT count(*) FROM lab_data_mice.subject m JOIN lab_data_rats.subject r "
                       "USING (subject_name)")
        assert cursor.fetchone()[0] == 1  # S0 is in both


def test_an_admin_may_delete_with_the_cascade_and_a_member_may_not_cascade_into_data(lab) -> None:
    with lab.connect("boss") as connection, connection.cursor() as cursor:
        cursor.execute("INSERT INTO lab_data_birds.subject (subject_name, subject_dob, subject_sex, strain_name, "
                       "user_name) VALUES ('B1', '2023-01-01', 'F', 'C57BL/6J', 'couto')")
        cursor.execute("INSERT INTO lab_data_birds.session (subject_name, session_name, session_datetime) "
                       "VALUES ('B1', '20240101_000000', '2024-01-01 00:00:00')")
        cursor.execute("DELETE FROM lab_data_birds.subject WHERE subject_name = 'B1'")
        assert cursor.rowcount == 2, "the subject and its session"
    assert _count(lab, "lab_data_birds", "session", "subject_name = 'B1'") == 0


@pytest.mark.parametrize(("user", "password"), [("alice", "wrong"), ("mallory", "x"), ("alice", ""),
                                                ("alice' OR '1'='1", "x")])
def test_wrong_passwords_and_unknown_users_get_access_denied(lab, user, password) -> None:
    with pytest.raises(pymysql.err.OperationalError) as refused:
        pymysql.connect(host="127.0.0.1", port=lab.port, user=user, password=password)
    assert refused.value.args[0] == 1045


@pytest.mark.parametrize(("sql", "code"), [
    ("DROP TABLE lab_data_mice.subject", 1235),
    ("CREATE TABLE lab_data_mice.x (a int)", 1235),
    ("TRUNCATE TABLE lab_data_mice.subject", 1235),
    ("LOAD DATA INFILE '/etc/passwd' INTO TABLE lab_data_mice.subject", None),
    ("SELECT * FROM read_csv('/etc/passwd')", 1305),
    ("SELECT subject_name FROM lab_data_mice.subject WHERE subject_name = read_text('/etc/passwd')", 1305),
    ("SELECT * FROM lab_data_mice.`subject; DROP TABLE subject`", 1146),
    ("SELECT * FROM lake.mice.subject", 1235),
    ("SELECT * FROM labdata_internal.facade_accounts", 1044),
    ("SELECT * FROM nonsense.subject", 1044),
    ("SELECT * FROM lab_data_mice.no_such_table", 1146),
    ("SELEC oops", None),
    (("INSERT INTO lab_data_mice.subject (subject_name, subject_dob, subject_sex, strain_name, user_name) "
     "VALUES ('Z1', 'not a date', 'F', 'C57BL/6J', 'couto')"), None),
    (("INSERT INTO lab_data_mice.subject (subject_name, subject_dob, subject_sex, strain_name, user_name) "
     "VALUES ('Z2', '2023-01-01', 'F', 'no_such_strain', 'couto')"), 1452),
    (("INSERT INTO lab_data_mice.subject (subject_name, subject_dob, subject_sex, strain_name, user_name) "
     "VALUES ('JC178', '2023-01-01', 'F', 'C57BL/6J', 'couto')"), 1062),
    ("UPDATE lab_data_mice.subject SET subject_name = 'renamed' WHERE subject_name = 'JC178'", 1235),
])
def test_bad_statements_get_mysql_errors_write_nothing_and_the_server_keeps_serving(lab, sql, code) -> None:
    before = _count(lab, "lab_data_mice", "subject", "true")
    error = _try(lab, "carol", sql)
    assert error is not None, f"{sql} ran"
    if code is not None:
        assert error == code, f"{sql}: {error}"
    assert _count(lab, "lab_data_mice", "subject", "true") == before
    assert _count(lab, "lab_data_mice", "subject", "subject_name = 'JC178'") == 1


def test_quotes_in_values_are_data(lab) -> None:
    with lab.cursor("carol") as cursor:
        cursor.execute("SELECT * FROM `lab_data_mice`.`subject` WHERE subject_name = %s", ("x' OR '1'='1",))
        assert cursor.fetchall() == ()
        cursor.execute("SELECT * FROM `lab_data_mice`.`subject` WHERE subject_name = 'x'' OR ''1''=''1'")
        assert cursor.fetchall() == ()


def test_an_oversized_statement_is_refused_and_others_are_served(lab) -> None:
    huge = "x" * (9 * 1024 * 1024)
    assert _try(lab, "alice", f"SELECT '{huge}' AS a FROM lab_data_mice.subject LIMIT 1") == 1153
    assert _try(lab, "alice", "SELECT count(*) FROM lab_data_mice.subject") is None
    assert _try(lab, "bob", "SELECT count(*) FROM lab_data_rats.subject") is None


def test_a_statement_past_the_query_timeout_is_cancelled(lab) -> None:
    sql = ("SELECT count(*) FROM lab_data_mice.dataset a, lab_data_mice.dataset b, lab_data_mice.dataset c, "
           "lab_data_mice.dataset d, lab_data_mice.dataset e, lab_data_mice.dataset f, lab_data_mice.dataset g, "
           "lab_data_mice.dataset h WHERE CONCAT(a.dataset_name, b.dataset_name, c.dataset_name, d.dataset_name, "
           "e.dataset_name, f.dataset_name, g.dataset_name, h.dataset_name) LIKE '%zzz%'")
    assert _try(lab, "alice", sql) == 3024
    assert _try(lab, "alice", "SELECT 1 FROM lab_data_mice.subject LIMIT 1") is None
