"""The ``trackedit`` command line (click): commands in :mod:`editor.cli.main`, model downloads
in :mod:`editor.cli.models`. Progress bars and printing live here, never in the library."""
from editor.cli.main import cli, main

__all__ = ["cli", "main"]
