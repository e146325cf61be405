"""The database behind a (stopped) server, through the sqlite3 CLI."""

import json
import subprocess


def sqlite(db_path, sql):
    """Run sql with the sqlite3 CLI (the server must be stopped)."""
    r = subprocess.run(["sqlite3", "-bail", "-json", db_path, sql],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError("sqlite3 %s failed: %s" % (sql, r.stderr))
    out = r.stdout.strip()
    return json.loads(out) if out else []


def _sql_literal(value):
    if isinstance(value, (int, float)):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


# Columns whose CHECK allows only certain values, per table.
_CHECKED = {"services": {"status": "ACTIVE", "scheduling_strategy": "REPLICA"}}


def insert_stub_row(db_path, table, cluster, key="stub"):
    """Insert a row into tasks/services that belongs to cluster.

    Later migrations add columns to these tables; every NOT NULL column
    without a default gets a harmless value of its declared type, so the
    test keeps working as the schema grows.
    """
    columns = sqlite(db_path, "PRAGMA table_info(%s)" % table)
    assert columns, "table %s missing from %s" % (table, db_path)
    names, values = [], []
    for col in columns:
        name, ctype = col["name"], (col["type"] or "").upper()
        if name == "cluster":
            value = cluster
        elif name in _CHECKED.get(table, {}):
            value = _CHECKED[table][name]
        elif name in ("id", "name", "arn", "task_id", "service_name"):
            value = key
        elif col["notnull"] and col["dflt_value"] is None:
            if "INT" in ctype:
                value = 1
            elif "REAL" in ctype or "FLOA" in ctype or "DOUB" in ctype:
                value = 1.0
            elif "status" in name.lower():
                value = "RUNNING"
            else:
                value = "{}" if ("json" in name or "body" in name) else key
        else:
            continue
        names.append(name)
        values.append(_sql_literal(value))
    sqlite(db_path, "INSERT INTO %s(%s) VALUES (%s)"
           % (table, ", ".join(names), ", ".join(values)))
