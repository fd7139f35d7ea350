"""The four kinds of page: regulator overview, one data-quality page per source, platform
operations, and the index. Each takes the already-queried ``SiteData`` and answers HTML; each
page is a list of section functions (``REGULATOR_SECTIONS``, ``SOURCE_SECTIONS``,
``OPERATIONS_SECTIONS``), so a new section is one function added to a list.
"""

from dashboards.pages.common import INDEX, OPERATIONS, REGULATOR, SiteData, load
from dashboards.pages.index import index_page
from dashboards.pages.operations import OPERATIONS_SECTIONS, operations_page
from dashboards.pages.regulator import REGULATOR_SECTIONS, regulator_page
from dashboards.pages.source import SOURCE_SECTIONS, SourceView, source_page

__all__ = [
    "INDEX",
    "OPERATIONS",
    "OPERATIONS_SECTIONS",
    "REGULATOR",
    "REGULATOR_SECTIONS",
    "SOURCE_SECTIONS",
    "SiteData",
    "SourceView",
    "index_page",
    "load",
    "operations_page",
    "regulator_page",
    "source_page",
]
