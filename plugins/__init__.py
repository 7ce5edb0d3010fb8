"""Built-in trackedit plugins (installed as the ``trackedit_plugins`` package).

Each module is an ordinary plugin, listed in the ``trackedit`` entry-point group of
pyproject.toml exactly like a third-party plugin would be.
"""
