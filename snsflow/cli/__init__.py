"""The ``snsflow`` command line."""
