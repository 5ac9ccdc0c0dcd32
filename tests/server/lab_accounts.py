"""The projects and members of the facade tests' lab (a module of its own: conftest modules share one name)."""

PROJECTS = ("mice", "rats", "birds")
MEMBERS = {"alice": ("mice",), "bob": ("rats",), "carol": ("mice", "rats")}
