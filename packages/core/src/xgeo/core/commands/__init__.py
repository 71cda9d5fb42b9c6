"""Sub-commands of the ``xgeo`` command line (see :data:`xgeo.core.cli.SUBCOMMANDS`)."""
