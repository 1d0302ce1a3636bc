"""Stage last — the command line (``heggs ...``).

Each sub-command turns flags into configs and calls the Python API; no science lives here.
Sections below are one per command.
"""

from __future__ import annotations

import click

from . import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="heggs")
def main() -> None:
    """HEGGS: synthesize and evaluate 3-component earthquake ground motions."""


# --- ingest ---------------------------------------------------------------------------------

# --- inspect --------------------------------------------------------------------------------

# --- simulate -------------------------------------------------------------------------------

# --- train ----------------------------------------------------------------------------------


if __name__ == "__main__":  # pragma: no cover
    main()
