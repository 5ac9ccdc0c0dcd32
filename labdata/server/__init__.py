"""The lab server: a MySQL-wire facade over the lake, with accounts, projects and grants.

:class:`Facade` decides who may connect and what they see and do; :class:`FacadeServer` speaks MySQL's
protocol (mysql-mimic) on a host and port; :mod:`.accounts` keeps the accounts in the lake's catalog.
"""

from labdata.server.accounts import (
    account_grants,
    add_account,
    delete_account,
    grant,
    list_accounts,
    revoke,
    set_password,
)
from labdata.server.facade import Facade
from labdata.server.grants import Grants, database_of, schema_of
from labdata.server.serve import FacadeServer, tls_context

__all__ = ["Facade", "FacadeServer", "Grants", "account_grants", "add_account", "database_of", "delete_account",
           "grant", "list_accounts", "revoke", "schema_of", "set_password", "tls_context"]
