"""The HTTP API of the check service, one module per concern.

`app.create_app` assembles the FastAPI application from routers: `v1` (the platform's own check,
single and bulk), `camara` (CAMARA Number Recycling) and `dashboards` (the dashboards site, health
and the docs). What every route needs — the presented API key, the per-key rate limit, a bounded
JSON body, the audit record — are dependencies in `deps`; the state they read (the index in force,
keys, audit log, limiter) is one `state.Service` on `app.state.service`. `errors` turns every
failure into a JSON body (CAMARA's shape under its prefix) and never lets a full number out.
"""
