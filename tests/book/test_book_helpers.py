"""The book's presentation helpers (fedbook.text, fedbook.toy, fedbook.benchmarks, fedbook.captions) and the
rendered-page scanner (helpers.rendered): numbers and tables without Python reprs or NaN, one style per rule in the
2-D figure, captions numbered as shown, and a scanner that finds each artefact it is meant to find (and none in
code)."""

from __future__ import annotations

import doctest
import json
from pathlib import Path

import pandas as pd
import pytest
from fedbook import benchmarks, captions, text, toy
from helpers import rendered

from fedlib import aggregators
from fedlib.report.tables import page_table

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "full.json"


@pytest.mark.parametrize("module", [text, toy, benchmarks, captions], ids=lambda m: m.__name__)
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_captions_number_each_kind_in_the_order_shown_and_refuse_what_is_not_shown():
    page = captions.Captions()
    assert page.figure("f").data == "**Figure 1.** f"
    assert [page.table(t, label=t).data for t in "ab"] == ["**Table 1.** a", "**Table 2.** b"]
    assert page.figure("g", label="g").data == "**Figure 2.** g"
    assert (page.ref("b"), page.ref("a", "b"), page.ref("g")) == ("Table 2", "Tables 1 and 2", "Figure 2")
    page.table("c", label="c")
    assert page.ref("a", "b", "c") == "Tables 1, 2 and 3"
    with pytest.raises(KeyError, match=r"no caption labelled \['later'\].*shown: \['a', 'b', 'c', 'g'\]"):
        page.ref("later")
    with pytest.raises(ValueError, match="one kind at a time"):
        page.ref("a", "g")
    with pytest.raises(ValueError, match="'a' is already Table 1"):
        page.table("again", label="a")
    assert page.table("d").data == "**Table 4.** d", "a refused caption took a number"


def test_numbers_read_as_written_by_hand():
    assert text.vector_text([3.0, -1.5, 2e-5]) == "(3, −1.5, 2×10⁻⁵)"
    assert text.number_text(-0.123456) == "−0.1235"


def test_every_rule_has_its_own_marker_and_colour_in_the_2d_figure():
    rules = aggregators.names()
    assert set(toy.RULE_STYLES) == set(rules), "a rule without a style (or a style without a rule)"
    markers = [m for m, _ in toy.RULE_STYLES.values()]
    colours = [c for _, c in toy.RULE_STYLES.values()]
    assert len(set(markers)) == len(markers) and len(set(colours)) == len(colours)


def test_the_2d_example_runs_every_rule_and_marks_the_rules_that_select_none():
    table = toy.aggregate_all(toy.point_cloud(16, 4, seed=0), f=4)
    assert table.rule.tolist() == aggregators.names()  # Fang's defense included
    assert set(table.family) == {"in the paper", "after the paper"}
    shown = page_table(toy.rules_table(table), precision=3).to_html()
    assert "nan" not in shown.lower() and "<NA>" not in shown and "–" in shown


def test_variant_tables_show_vectors_and_rows_without_reprs():
    example = toy.rule_variant_difference("krum", n=7, f=1)
    table = toy.variant_table(example)
    assert list(table.columns) == ["variant", "output", "rows selected"]
    assert all(v.startswith("(") and "[" not in v for v in table.output)
    median = toy.variant_table(toy.rule_variant_difference("median", n=6, f=1))
    assert "rows selected" not in median.columns  # the median selects no rows: no column of None
    lie = toy.attack_variant_table("lie", toy.small_integer_updates(40, 3, seed=0), 10, n_total=50)
    assert "γ" not in lie.columns  # LIE searches no γ


@pytest.mark.skipif(not BENCH.exists(), reason="no committed benchmark results")
def test_performance_tables_have_no_nan_and_say_why_a_cell_is_empty():
    bench = json.loads(BENCH.read_text())
    for make in (benchmarks.machine_table, benchmarks.agr_table, benchmarks.floors_table, benchmarks.memory_table,
                 benchmarks.attack_table, benchmarks.fedsgd_table, benchmarks.targets_table):
        html = page_table(make(bench), precision=3).to_html()
        assert not rendered.MISSING.search(html.split("</style>")[-1]), f"{make.__name__} prints a missing value"
    targets = benchmarks.targets_table(bench)
    assert set(targets.met) <= {"yes", "no"} and len(targets) == len(bench["targets"])
    assert (targets.met == "yes").sum() == sum(t["met"] for t in bench["targets"])
    agr = benchmarks.agr_table(bench)
    note = benchmarks.missing_note(agr, {"ByzFL (s)": "ByzFL has no {names}"})
    assert note.startswith("ByzFL (s): ByzFL has no Bulyan")
    assert "no exact search for" in benchmarks.attack_missing_note(benchmarks.attack_table(bench))


PAGE = """<html><body><article class="bd-article">{}</article></body></html>"""


@pytest.mark.parametrize("body,what", [
    ("<p>see spec §4.8 for details</p>", "internal spec"),
    ("<p>from paper-results.md §A1</p>", "internal spec"),
    ("<p>ROOT = PosixPath('/x')</p>", "Path repr"),
    ("<p>built in /home/user/book</p>", "machine path"),
    ('<div class="cell_output"><pre>[\'krum\', \'median\']</pre></div>', "list or tuple repr"),
    ('<div class="cell_output"><pre>\'ok: fine\'</pre></div>', "quoted 'ok'"),
    ('<div class="cell_output"><pre>tensor([1., 2.])</pre></div>', "tensor or array repr"),
    ("<table><tr><td>Krum</td><td>NaN</td></tr></table>", "printed as NaN"),
    ('<div class="cell_output"><pre>gamma None</pre></div>', "printed as None"),
    ('<div class="cell_output"><p>the attack: None; γ NaN</p></div>', "printed as None"),
    ("<p>results in results/quick (missing results are computed)</p>", "missing results are computed"),
    ('<div class="cell_output"><pre>&lt;IPython.core.display.Markdown object&gt;</pre></div>', "object repr"),
    ('<div class="cell_output"><pre>&lt;fedlib.Aggregate object at 0x7f3a&gt;</pre></div>', "object repr"),
])
def test_the_scanner_finds_each_artefact(body, what):
    found = rendered.artefacts(rendered.main_of(PAGE.format(body)))
    assert any(what in f for f in found), found


def test_the_scanner_leaves_code_alone():
    body = ('<div class="cell_input"><pre>x = None  # spec §1 [\'a\']</pre></div><p>Use <code>seeds=None</code>.</p>'
            '<table><tr><td><code>None</code></td><td>the default</td></tr></table>'
            '<div class="highlight"><pre>plan: datasets [\'mnist\']</pre></div>'
            '<div class="cell_output"><p>None of the 30 committed runs ends below its best round.</p></div>')
    assert rendered.artefacts(rendered.main_of(PAGE.format(body))) == []


def test_the_pages_checked_in_a_browser_are_the_summary_results_and_a_learn_page():
    parts, checked = rendered.toc_pages(), rendered.layout_pages()
    assert set(parts["Summary"]) | set(parts["Results"]) <= set(checked)
    assert any(page in checked for page in parts["Learn"])
    assert pd.Series(checked).is_unique


@pytest.mark.parametrize("offset,widened", [(1.3, True), (9.0, False)])
def test_the_zoom_panel_shows_malicious_updates_just_outside_it_and_leaves_far_ones_out(offset, widened):
    import matplotlib.pyplot as plt
    import torch

    honest = torch.tensor([[0.0, 0.0], [0.2, -0.1], [-0.2, 0.1], [0.1, 0.2], [-0.1, -0.2], [0.0, 0.1]],
                          dtype=torch.float64)
    points = torch.cat([torch.full((2, 2), -offset, dtype=torch.float64), honest])
    table = toy.aggregate_all(points, f=2, rules=["mean", "median"])
    fig = toy.aggregates_figure(points, table, 2, "t", zoom=1.2)
    try:
        near = fig.axes[1]
        inside = near.get_xlim()[0] < -offset and near.get_ylim()[0] < -offset
        assert inside == widened
        assert ("±1.2" in near.get_title()) == (not widened)
    finally:
        plt.close(fig)
