"""Offline HTML dashboards built from the warehouse's published marts (RULES 5).

Plain Python, no Dagster: ``dashboards.site.build_site`` is what the orchestration layer and
``numlake dashboards`` call; ``dashboards.figures`` holds the figure builders.
"""
