"""Tests of yotsuba.core.report: self-contained HTML, inline SVG, escaping, tables."""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from yotsuba import __version__
from yotsuba.core.errors import InputError
from yotsuba.core.report import Report, format_value, svg_figure

NOW = datetime(2026, 11, 22, 16, 0, tzinfo=UTC)


def _figure() -> Figure:
    fig = Figure(figsize=(4, 3))
    ax = fig.add_subplot()
    ax.semilogy([0, 50, 100], [1e5, 1e3, 10], label="rate")
    ax.set_xlabel("fibre length (km)")
    ax.legend()
    return fig


class _Collector(HTMLParser):
    """Collects every tag with its attributes, and the text of table cells."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.cells: list[str] = []
        self._in_cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_cell = tag in ("td", "th")
        if self._in_cell:
            self.cells.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self._in_cell = False

    def handle_data(self, data: str) -> None:
        if self._in_cell:
            self.cells[-1] += data


def _parse(html: str) -> _Collector:
    c = _Collector()
    c.feed(html)
    return c


def test_svg_figure_is_bare_valid_svg_and_deterministic() -> None:
    svg = svg_figure(_figure())
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "<?xml" not in svg and "<!DOCTYPE" not in svg
    root = ET.fromstring(svg)  # well-formed XML
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert "<text" not in svg  # text drawn as paths: no font needed to view it
    assert svg_figure(_figure()) == svg  # no timestamps or random ids


def test_svg_figure_closes_pyplot_figures_without_changing_backend() -> None:
    import matplotlib

    backend = matplotlib.get_backend()
    pyplot_loaded = "matplotlib.pyplot" in sys.modules
    svg_figure(_figure())
    assert matplotlib.get_backend() == backend
    assert ("matplotlib.pyplot" in sys.modules) == pyplot_loaded  # not imported by us

    import matplotlib.pyplot as plt

    fig = plt.figure()
    plt.plot([1, 2])
    assert plt.fignum_exists(fig.number)
    assert svg_figure(fig).startswith("<svg")
    assert not plt.fignum_exists(fig.number)


def test_report_is_self_contained_with_inline_svg() -> None:
    r = Report("QKD sweep", subtitle="device: gys")
    r.add_heading("Rate")
    r.add_figure(_figure(), caption="Key rate vs distance.")
    r.add_figure(svg_figure(_figure()))
    html = r.render(NOW)
    assert html.startswith("<!DOCTYPE html>")
    assert html.count("<svg") == 2
    assert "Figure 1." in html and "Key rate vs distance." in html
    parsed = _parse(html)
    for tag, attrs in parsed.tags:
        for attr in ("src", "href", "xlink:href", "action", "data"):
            value = attrs.get(attr) or ""
            assert not re.match(r"\s*(https?:)?//", value), f"<{tag} {attr}={value!r}> is remote"
    assert not any(tag in ("script", "link", "iframe", "img") for tag, _ in parsed.tags)
    assert "@import" not in html
    assert re.findall(r"url\((?!#)", html) == []  # only same-document refs (SVG clip paths)
    assert f"yotsuba {__version__}" in html
    assert "Generated 2026-11-22 16:00 UTC" in html


def test_text_heading_caption_and_cells_are_escaped() -> None:
    r = Report("<b>T</b> & co", subtitle="<i>sub</i>")
    r.add_heading("<script>alert(1)</script>")
    r.add_text('x < y && "q" > \'p\'')
    r.add_table(["<th>"], [["<td>"]], caption="<cap>")
    r.add_kv({"<k>": "<v>"})
    html = r.render(NOW)
    assert "<script>" not in html and "<b>T</b>" not in html and "<i>sub</i>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "x &lt; y &amp;&amp; &#34;q&#34; &gt; &#39;p&#39;" in html
    for s in ("&lt;th&gt;", "&lt;td&gt;", "&lt;cap&gt;", "&lt;k&gt;", "&lt;v&gt;"):
        assert s in html
    # The CSS itself must not be escaped (quoted font names would break).
    assert '"Segoe UI"' in html


def test_table_rendering_formats_and_aligns() -> None:
    r = Report("T")
    r.add_table(
        ["protocol", "max distance (km)", "rate (bit/s)", "ok"],
        [["gllp", 30.04512, 1.23456e-7, True], ["decoy", None, float("nan"), False],
         ["big", 123456.7, 2_000_000, None]],
        caption="Maximal distances.",
    )
    parsed = _parse(r.render(NOW))
    assert parsed.cells == [
        "protocol", "max distance (km)", "rate (bit/s)", "ok",
        "gllp", "30.05", "1.235e-7", "yes",
        "decoy", "—", "—", "no",
        "big", "123457", "2000000", "—",
    ]
    num_cells = [a for t, a in parsed.tags if t == "td" and a.get("class") == "num"]
    assert len(num_cells) == 7  # five numbers (NaN included) and the two None cells
    html = r.render(NOW)
    assert "<caption>Maximal distances.</caption>" in html
    with pytest.raises(InputError, match="row 1 has 1 cells; expected 2"):
        r.add_table(["a", "b"], [[1, 2], [3]])


def test_kv_table_lists_names_and_values() -> None:
    r = Report("T")
    r.add_kv({"dark_count": 1.7e-6, "wavelength_nm": 1550, "name": "gys", "tags": [1, 2.5]})
    parsed = _parse(r.render(NOW))
    assert parsed.cells == ["dark_count", "1.7e-6", "wavelength_nm", "1550", "name", "gys",
                            "tags", "1, 2.5"]


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.0, "0"), (-0.5, "-0.5"), (1.0, "1"), (0.001, "0.001"), (0.000999, "9.99e-4"),
     (999_999.4, "999999"), (1e6, "1e6"), (-2.5e-12, "-2.5e-12"), (float("inf"), "∞"),
     (float("-inf"), "-∞"), (12, "12"), (None, "—"), ("a", "a")],
)
def test_format_value(value: object, text: str) -> None:
    assert format_value(value) == text


def test_numpy_values_format_like_python_ones() -> None:
    np = pytest.importorskip("numpy")
    assert format_value(np.float64(0.12345)) == "0.1235"
    assert format_value(np.int64(7)) == "7"
    assert format_value(np.array([1.0, np.nan])) == "1, —"


def test_add_figure_rejects_non_svg_text() -> None:
    with pytest.raises(InputError, match="not SVG"):
        Report("T").add_figure("<png>")


def test_write_is_atomic_and_complete(tmp_path: Path) -> None:
    r = Report("T")
    r.add_text("hello")
    p = r.write(tmp_path / "report.html", NOW)
    assert p.read_text(encoding="utf-8") == r.render(NOW)
    assert [x.name for x in tmp_path.iterdir()] == ["report.html"]
