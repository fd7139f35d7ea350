"""The check service (RULES 6): "has this number changed hands since D?".

`rules` holds the rule, `index` the in-memory lookup structure, `snapshot` publishes and
reads the read-only index the CLI and the HTTP server answer from, `server` the HTTP API,
`keys` and `audit` its API keys and append-only audit log, `bulk` the file interface.
"""
