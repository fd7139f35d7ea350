"""numlake's Dagster deployment for several machines: PostgreSQL storage, the daemon, a run queue.

The embedded default (orchestration/settings.py: SQLite under `<home>/dagster`, in-process
executor, `numlake run`) stays as it is. A platform team runs instead, with the files of this
folder (docs/SCALE.md says which process runs where):

- `dagster.yaml`: run, event-log and schedule storage on PostgreSQL (`NUMLAKE_DAGSTER_PG_URL`),
  the queued run coordinator, pools held per run with a limit of one (one writer of the lake,
  one of the warehouse);
- `workspace.yaml`: the code location `orchestration.deploy.entry`, i.e. the same definitions
  with the multiprocess executor;
- `python -m orchestration.deploy prepare DAGSTER_HOME` copies both into a Dagster home.
"""
