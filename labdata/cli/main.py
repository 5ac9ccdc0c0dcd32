"""The ``labdata`` command: a click group whose commands only parse, call and render."""

from __future__ import annotations

import click

from labdata.cli.errors import reports_errors

__all__ = ["main", "reports_errors"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="labdata")
def main() -> None:
    """labdata: a data lake for experimental neuroscience labs.

    \b
    Preferences: $LABDATA_PREFERENCES if set, else $LABDATA_PATH/user_preferences.json
    (default ~/labdata/user_preferences.json): lake_path, catalog, storages, local_paths.
    Project: -p/--project, else LABDATA_DATABASE_PROJECT, else database.project.
    Lake: --path DIR on any command, else lake_path of the preferences.
    A new lab: labdata lab add-member/add-species/add-strain, then labdata subjects --add.
    """


def _register() -> None:
    from labdata.cli import admin, compute, containers, demo, export, files, lab, server, sorting, sql, subjects, upload

    main.add_command(admin.admin)
    main.add_command(compute.run)
    main.add_command(compute.task)
    main.add_command(compute.task_reset)
    main.add_command(containers.build_container)
    main.add_command(containers.run_container)
    main.add_command(demo.demo)
    main.add_command(export.export)
    main.add_command(files.clean)
    main.add_command(files.get)
    main.add_command(files.sessions)
    main.add_command(lab.lab)
    main.add_command(server.account)
    main.add_command(server.history)
    main.add_command(server.serve)
    main.add_command(sorting.sorting_import)
    main.add_command(sql.sql)
    main.add_command(sql.views)
    main.add_command(subjects.subjects)
    main.add_command(upload.put)
    main.add_command(upload.upload)


_register()
