"""Benchmarks (`make bench`, BENCHMARKS.md). Each runs numlake's code as the `numlake` command runs it:
without transparent huge pages (numlake/host.py), for itself and every process it starts."""

from numlake.host import disable_transparent_huge_pages

disable_transparent_huge_pages()
