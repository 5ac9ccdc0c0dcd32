"""``python -m labdata.cli``."""

from labdata.cli.main import main

main()
