"""``labdata serve`` (the MySQL-wire facade) and ``labdata account`` (its accounts and their projects)."""

from __future__ import annotations

import click

from labdata.cli.errors import reports_errors
from labdata.cli.options import open_context, open_lake

__all__ = ["account", "history", "serve"]

_PATH = click.option("--path", "lake_path", default=None, type=click.Path(file_okay=False),
                     help="Lake folder (default: lake_path of the preference file).")


@click.command()
@_PATH
@click.option("--host", default=None, help="Address to listen on (default: the preferences' server.host).")
@click.option("--port", default=None, type=click.IntRange(0, 65535),
              help="Port (default: server.port, 3306; 0 picks a free one).")
@click.option("-i", "--import", "imports", multiple=True,
              help="A module declaring the lab's own tables, so that writes reach them (repeatable).")
@reports_errors
def serve(lake_path: str | None, host: str | None, port: int | None, imports: tuple[str, ...]) -> None:
    """Serve the lake to MySQL clients (mariadb, pymysql, SQLAlchemy, BI tools) with accounts and grants.

    Databases are named as the original's: the lab-wide `<name>` (database.name, default lab_data),
    `<name>_<project>`, `<name>_<project>_computed` and `<name>_<project>_user`. Accounts are made with
    `labdata account add`. TLS is offered when server.certificate and server.key are set; without it
    passwords cross the network in clear, so keep such a server on the lab's own network.

    \b
    EXAMPLES
        labdata serve                       # host and port from the preferences
        labdata serve --port 3307 -i mylab.tables
        mariadb -h labserver -P 3307 -u alice -p lab_data_mice
    """
    from labdata.server import Facade, FacadeServer, tls_context

    context = open_lake(lake_path)
    prefs = context.prefs()
    settings = prefs.get("server", {}) or {}
    certificate, key = settings.get("certificate"), settings.get("key")
    tls = tls_context(certificate, key) if certificate and key else None
    facade = Facade(context.lake, lab_name=prefs.get("database.name", "lab_data"), preferences=prefs,
                    imports=[*settings.get("imports", []), *imports], query_timeout=settings.get("query_timeout"))
    server = FacadeServer(facade, host=host or settings.get("host", "127.0.0.1"),
                          port=settings.get("port", 3306) if port is None else port, tls=tls)
    server.start()
    click.echo(f"labdata facade on {server.host}:{server.port} ({'TLS' if tls else 'no TLS'}); Ctrl-C stops it",
               err=True)
    try:
        click.get_current_context().call_on_close(server.stop)
        _wait()
    finally:
        server.stop()
        facade.close()


def _wait() -> None:
    import threading

    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        return


@click.group()
def account() -> None:
    """Facade accounts: add, list, grant, revoke, password, delete (kept in the lake's catalog).

    \b
    EXAMPLES
        labdata account add alice -p mice        # prints alice's password once
        labdata account grant alice -p rats
        labdata account list
    """


_PROJECTS = click.option("-p", "--project", "projects", multiple=True, help="A project (repeatable).")


@account.command("add")
@click.argument("name")
@_PROJECTS
@click.option("--admin", is_flag=True, help="Every privilege on every database (for the lab's admins).")
@_PATH
@reports_errors
def add(name: str, projects: tuple[str, ...], admin: bool, lake_path: str | None) -> None:
    """Create account NAME, member of the projects given; print its password (shown once)."""
    from labdata.server import add_account

    password = add_account(open_lake(lake_path).lake, name, projects, admin=admin)
    click.echo(f"account {name} created; its password (shown once): {password}")


@account.command("list")
@_PATH
@reports_errors
def list_(lake_path: str | None) -> None:
    """List the accounts with their projects."""
    from labdata.server import list_accounts

    for row in list_accounts(open_lake(lake_path).lake):
        role = "admin" if row["admin"] else ", ".join(row["projects"]) or "no projects"
        click.echo(f"{row['account']:<24} {role:<40} created {row['created']:%Y-%m-%d}")


@account.command("grant")
@click.argument("name")
@_PROJECTS
@_PATH
@reports_errors
def grant(name: str, projects: tuple[str, ...], lake_path: str | None) -> None:
    """Make account NAME a member of the projects given."""
    from labdata.server import grant as grant_projects

    grant_projects(open_lake(lake_path).lake, name, projects)
    click.echo(f"{name} is a member of {', '.join(projects)}")


@account.command("revoke")
@click.argument("name")
@_PROJECTS
@_PATH
@reports_errors
def revoke(name: str, projects: tuple[str, ...], lake_path: str | None) -> None:
    """End account NAME's membership of the projects given."""
    from labdata.server import revoke as revoke_projects

    revoke_projects(open_lake(lake_path).lake, name, projects)
    click.echo(f"{name} is no longer a member of {', '.join(projects)}")


@account.command("password")
@click.argument("name")
@_PATH
@reports_errors
def password(name: str, lake_path: str | None) -> None:
    """Give account NAME a new random password and print it (shown once)."""
    from labdata.server import set_password

    click.echo(f"new password of {name} (shown once): {set_password(open_lake(lake_path).lake, name)}")


@account.command("delete")
@click.argument("name")
@_PATH
@click.confirmation_option(prompt="Delete the account?")
@reports_errors
def delete(name: str, lake_path: str | None) -> None:
    """Delete account NAME (its rows in the lake stay)."""
    from labdata.server import delete_account

    delete_account(open_lake(lake_path).lake, name)
    click.echo(f"account {name} deleted")


@click.command()
@click.argument("table")
@click.option("-r", "--restrict", "restriction", default=None, metavar="CONDITION",
              help="A MySQL condition or a JSON object of attribute values selecting the rows.")
@click.option("-p", "--project", default=None, help="Project (default: the preferences' database.project).")
@click.option("-i", "--import", "imports", multiple=True, help="A module declaring the lab's own tables.")
@_PATH
@reports_errors
def history(table: str, restriction: str | None, project: str | None, imports: tuple[str, ...],
            lake_path: str | None) -> None:
    """Show how rows of TABLE changed: when, who, which command, old and new values.

    \b
    EXAMPLES
        labdata history Subject -r '{"subject_name": "JC178"}'
        labdata history SpikeSorting.Unit -r "unit_id = 12" -p mice
    """
    import json

    from labdata.catalog.ops.history import row_history
    from labdata.compute.populate import table_named

    context = open_context(lake_path, project)
    selected = json.loads(restriction) if restriction and restriction.lstrip().startswith("{") else restriction
    for change in row_history(table_named(table, imports)(context), selected):
        values = ", ".join(f"{k}={v}" for k, v in change["values"].items())
        click.echo(f"{change['time']:%Y-%m-%d %H:%M:%S}  #{change['snapshot']:<5} {change['author'] or '-':<12} "
                   f"{change['change']:<13} {values}  [{change['command'] or '-'}]")
