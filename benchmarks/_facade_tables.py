"""What ``facade.py`` serves: a lab's own table of ``--rows`` rows (imported by the benchmark and its server).

Not a script.
"""

from __future__ import annotations

from labdata.schema import dj

schema = dj.Schema("user", locals())


@schema
class BenchRow(dj.Manual):
    definition = """
    # a row of the facade benchmark
    item_id : int
    ---
    subject : varchar(20)
    value : double
    label : varchar(40)
    """


def rows(count: int) -> list[dict]:
    """The benchmark's rows: 50 subjects, labels that LIKE 'a%' selects a tenth of."""
    letters = "abcdefghij"
    return [dict(item_id=i, subject=f"S{i % 50:03d}", value=i * 0.5, label=f"{letters[i % 10]}label{i % 997}")
            for i in range(count)]


MARIADB_TABLE = ("CREATE TABLE bench_row (item_id INT NOT NULL PRIMARY KEY, subject VARCHAR(20) NOT NULL, "
                 "value DOUBLE NOT NULL, label VARCHAR(40) NOT NULL) ENGINE=InnoDB")
