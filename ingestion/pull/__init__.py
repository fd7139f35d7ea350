"""Pull mode (INTERCHANGE 5): fetch deliveries from the sources' own SFTP servers into the landing area.

Plain Python, no Dagster: `orchestration/defs/pull.py` and `numlake pull` both call
:func:`ingestion.pull.run.pull`. Importing this package is cheap (the registry imports
:mod:`ingestion.pull.config`); asyncssh is imported only when something is fetched.
See docs/PULL.md.
"""
