"""Figures as plain dicts: the part of plotly's figure API the dashboards use, without its object model.

A site has ~550 figures, ~500 of them on the ~100 per-source pages. Built as `plotly.graph_objects`
figures they were most of the site's CPU time: every property set walks plotly's validators, and
`to_html` deep-copies the figure back into dicts (BENCHMARKS.md, issue 17). The JSON the page
carries is the same either way — a figure is `{"data": [trace, ...], "layout": {...}}` — so
builders fill those dicts directly and plotly only serialises them (`plotly.io.to_html` with
`validate=False`, numeric arrays sent as typed arrays as plotly itself does).

What is kept of plotly's API, so a builder reads as it did:

- ``Figure(data)``, ``add_trace`` (with ``secondary_y`` or ``row``/``col`` on figures made by
  :func:`subplots`), ``update_layout``, ``update_xaxes``/``update_yaxes`` (``row``, ``col``,
  ``secondary_y``), ``add_annotation``, ``select_xaxes``/``select_yaxes``;
- plotly's "magic underscores": ``marker_color="red"`` is ``marker={"color": "red"}``;
- a value of ``None`` in a keyword leaves the property unset, as in plotly;
- attribute access: ``fig.layout.title.text``, ``fig.data[0].y``; reading a property never set
  answers an empty, false value (``fig.layout.height or 380``) and creates nothing.

Trace constructors are :func:`Bar`, :func:`Scatter` and :func:`Heatmap`. There is no validation:
a misspelt property reaches plotly.js, which ignores it. tests/unit/test_dashboards_figures.py
checks the figures' content, tests/browser/ that they draw.
"""

from __future__ import annotations

import re
from typing import Any

_AXIS = re.compile(r"^([xy])axis(\d*)$")
# plotly property names that contain an underscore (the rest split at "_" into nested properties)
# properties plotly never sends as typed arrays (`_plotly_utils.utils.is_skipped_key`)
_NOT_TYPED = frozenset({"geojson", "layer", "layers", "range"})
_WHOLE = frozenset({"copy_ystyle", "copy_zstyle", "error_x", "error_y", "error_z", "paper_bgcolor", "plot_bgcolor"})


class Props(dict):
    """A dict whose keys read and write as attributes. Reading a missing key answers an empty
    `Props` that joins its parent only when something is set on it."""

    __slots__ = ("_parent", "_key")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        object.__setattr__(self, "_parent", None)
        object.__setattr__(self, "_key", None)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if name in self:
            return self[name]
        child = Props()
        object.__setattr__(child, "_parent", self)
        object.__setattr__(child, "_key", name)
        return child

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __setitem__(self, name: str, value: Any) -> None:
        if value is None:
            self.pop(name, None)
            return
        super().__setitem__(name, props(value))
        self._attach()

    def _attach(self) -> None:
        parent, key = self._parent, self._key
        if parent is not None:
            object.__setattr__(self, "_parent", None)
            if key not in parent:
                dict.__setitem__(parent, key, self)
                parent._attach()

    def update(self, *args, **kwargs) -> Props:  # type: ignore[override]
        """Merge like plotly's update: magic underscores expanded, nested dicts merged."""
        for key, value in dict(*args, **kwargs).items():
            _merge(self, key, value)
        if self:
            self._attach()
        return self


def props(value: Any) -> Any:
    """`value` with every dict in it made `Props` (magic underscores expanded)."""
    if isinstance(value, Props):
        return value
    if isinstance(value, dict):
        out = Props()
        for key, item in value.items():
            _merge(out, key, item)
        return out
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return [props(v) for v in value]
    return value


def _merge(target: Props, key: str, value: Any) -> None:
    """Set `key` (possibly ``a_b_c``) on `target`, merging into dicts already there."""
    if value is None:
        return
    path = [key] if key in _WHOLE or "_" not in key else key.split("_")
    for part in path[:-1]:
        nested = dict.get(target, part)
        if not isinstance(nested, Props):
            nested = Props()
            dict.__setitem__(target, part, nested)
        target = nested
    last = path[-1]
    current = dict.get(target, last)
    if isinstance(value, dict) and isinstance(current, Props):
        current.update(value)
    else:
        dict.__setitem__(target, last, props(value))


def _trace(kind: str, kwargs: dict) -> Props:
    trace = Props(type=kind)
    trace.update(kwargs)
    return trace


def Bar(**kwargs) -> Props:
    return _trace("bar", kwargs)


def Scatter(**kwargs) -> Props:
    return _trace("scatter", kwargs)


def Heatmap(**kwargs) -> Props:
    return _trace("heatmap", kwargs)


class Figure:
    """`{"data": [...], "layout": {...}}` with plotly's building methods; `template` is the layout
    every figure starts from (plotly applies its default template the same way)."""

    template: dict = {}

    def __init__(self, data: Props | list | None = None, layout: dict | None = None) -> None:
        if isinstance(data, dict):
            data = [data]
        self.data: list[Props] = [props(t) for t in (data or [])]
        self.layout = Props()
        if self.template:
            dict.__setitem__(self.layout, "template", self.template)
        self.layout.update(layout or {})
        self._grid: tuple[int, int] | None = None  # (rows, cols) of a subplots figure
        self._secondary_y = False

    # -- traces
    def add_trace(self, trace: Props, row: int | None = None, col: int | None = None, secondary_y=None) -> Figure:
        trace = props(trace)
        if self._grid is not None:  # a subplots figure names each trace's axes, as plotly does
            n = self._cell(row, col)
            trace["xaxis"], trace["yaxis"] = f"x{n or ''}", "y2" if secondary_y else f"y{n or ''}"
        self.data.append(trace)
        return self

    # -- layout
    def update_layout(self, dict1: dict | None = None, **kwargs) -> Figure:
        self.layout.update(dict1 or {}, **kwargs)
        return self

    def add_annotation(self, **kwargs) -> Figure:
        annotations = dict.get(self.layout, "annotations")
        if not isinstance(annotations, list):
            annotations = []
            self.layout["annotations"] = annotations
        annotations.append(props(kwargs))
        return self

    def select_xaxes(self, row: int | None = None, col: int | None = None) -> list[Props]:
        return self._axes("x", row, col)

    def select_yaxes(self, row: int | None = None, col: int | None = None, secondary_y=None) -> list[Props]:
        if secondary_y is not None and self._secondary_y:
            return [self._axis("yaxis2" if secondary_y else "yaxis")]
        return self._axes("y", row, col)

    def update_xaxes(self, dict1: dict | None = None, row=None, col=None, **kwargs) -> Figure:
        for axis in self.select_xaxes(row, col):
            axis.update(dict1 or {}, **kwargs)
        return self

    def update_yaxes(self, dict1: dict | None = None, row=None, col=None, secondary_y=None, **kwargs) -> Figure:
        for axis in self.select_yaxes(row, col, secondary_y):
            axis.update(dict1 or {}, **kwargs)
        return self

    def _axis(self, name: str) -> Props:
        """The layout's axis `name`; one not there yet joins the layout when something is set on it."""
        return getattr(self.layout, name)

    def _axes(self, letter: str, row, col) -> list[Props]:
        """The axes of `letter` a plotly figure would select: every axis of the layout (a plain
        figure always has its first one; an overlaying second y axis is one of them), or the axis
        of one cell of a subplots grid."""
        if row is not None or col is not None:
            n = self._cell(row, col)
            return [self._axis(f"{letter}axis{n or ''}")]
        names = {k for k in self.layout if (m := _AXIS.match(k)) and m.group(1) == letter} | {f"{letter}axis"}
        return [self._axis(n) for n in sorted(names, key=lambda k: int(_AXIS.match(k).group(2) or 1))]

    def _cell(self, row, col) -> int:
        rows, cols = self._grid or (1, 1)
        return ((row or 1) - 1) * cols + (col or 1) if (row or 1, col or 1) != (1, 1) else 0

    # -- output
    def to_dict(self) -> dict:
        """Plain dicts and lists (a copy), numeric arrays as plotly's typed-array specs."""
        return {"data": _plain(self.data), "layout": _plain(self.layout)}

    def to_plotly_json(self) -> dict:
        return self.to_dict()

    def to_html(self, **kwargs) -> str:
        """plotly's HTML of the figure (`plotly.io.to_html`; the dicts are not validated again)."""
        from plotly.io import to_html

        return to_html(self.to_dict(), validate=False, **kwargs)


def _plain(value: Any, key: str | None = None) -> Any:
    """`value` as plain dicts and lists; a numpy array or pandas series that is the value of a
    property becomes plotly's typed-array spec (base64), as `convert_to_base64` in plotly's own
    `Figure.to_dict` does, walking only the dicts and lists a figure nests (not every value)."""
    if isinstance(value, dict):
        return {k: _plain(v, k) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) if isinstance(v, (dict, list, tuple)) else v for v in value]
    if key is not None and key not in _NOT_TYPED and _is_array(value):
        from _plotly_utils.utils import to_typed_array_spec

        return to_typed_array_spec(value)
    return value


def _is_array(value: Any) -> bool:
    kind = type(value).__module__.split(".", 1)[0]
    return kind in ("numpy", "pandas") and getattr(value, "ndim", 0) > 0


def subplots(fig: Any, grid: tuple[int, int] = (1, 1), secondary_y: bool = False) -> Figure:
    """A :class:`Figure` over the layout of a plotly `make_subplots` figure (its axes' domains,
    anchors and subplot titles), for the few figures with several plots: traces then go to
    ``row``/``col`` or ``secondary_y`` as in plotly."""
    out = Figure()
    skeleton = fig.to_plotly_json()["layout"]
    skeleton.pop("template", None)
    out.layout.update(skeleton)
    out._grid, out._secondary_y = grid, secondary_y
    return out
