"""What the figures plot: CI bands and error bars come from the ci columns of the tables."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection

from rassim.report import distributions, figures, load, timeline
from rassim.report.series import Unavailable


def bands(figure, prefix):
    return {
        artist.get_gid(): artist
        for axes in figure.axes
        for artist in axes.collections
        if isinstance(artist, PolyCollection) and (artist.get_gid() or "").startswith(prefix)
    }


def test_bands_are_the_aggregate_ci_columns(results_tree):
    results = load(results_tree / "ue-rate")
    figure = figures.outcomes_vs_ue_rate(results)
    found = bands(figure, "ci:goodput:")
    assert set(found) == {"ci:goodput:serror_fallback", "ci:goodput:exit_to_user"}
    table = results.aggregate
    for policy in ("serror_fallback", "exit_to_user"):
        vertices = found[f"ci:goodput:{policy}"].get_paths()[0].vertices
        rows = table[table["hypervisor_policy"] == policy]
        for _, row in rows.iterrows():
            rate = float(row["memory_ue_rate"].split("/")[0])
            ys = vertices[np.isclose(vertices[:, 0], rate), 1]
            assert ys.min() == pytest.approx(max(row["goodput_ci_low"], 0.0))
            assert ys.max() == pytest.approx(min(row["goodput_ci_high"], 1.0))
    axes = figure.axes[0]
    assert axes.get_xscale() == "log"
    assert "UEs per GiB per hour" in axes.get_xlabel()
    assert "recovery rate" in axes.get_ylabel()
    assert "VM interruptions" in figure.axes[1].get_ylabel()
    assert "goodput" in figure.axes[2].get_ylabel()


def test_one_colour_per_policy_across_figures(results_tree):
    ue_rate = figures.outcomes_vs_ue_rate(load(results_tree / "ue-rate"))
    share = figures.recovery_vs_kernel_share(load(results_tree / "kernel-share"))
    colours = {}
    for figure in (ue_rate, share):
        for line in figure.axes[0].get_lines():
            policy = (line.get_gid() or "").rsplit(":", 1)[-1]
            if policy:
                colours.setdefault(policy, set()).add(line.get_color())
    assert colours.keys() == {"serror_fallback", "exit_to_user"}
    assert all(len(c) == 1 for c in colours.values())
    assert colours["serror_fallback"] != colours["exit_to_user"]


def test_memory_error_bars_are_the_ci_columns(results_tree):
    results = load(results_tree / "page-size")
    figure = figures.memory_lost_by_page_size(results)
    axes = figure.axes[0]
    containers = [c for c in axes.containers if c.get_label().startswith("_ci:")]
    assert len(containers) == 2
    table = results.aggregate
    for container in containers:
        policy = container.get_label().rsplit(":", 1)[-1]
        rows = table[table["hypervisor_policy"] == policy].set_index("guest_backing_page")
        segments = container.lines[2][0].get_segments()
        tops = [segment[:, 1].max() for segment in segments]
        shown = rows.loc[["4KiB", "2MiB"]]
        # an undefined interval (hosts that do not vary) draws no bar: its top is the estimate
        high = shown["memory_lost_kib_per_tib_year_ci_high"]
        assert tops == pytest.approx(list(high.fillna(shown["memory_lost_kib_per_tib_year_mean"])))


def test_blast_radius_counts_each_consumed_ue_once(results_tree):
    results = load(results_tree / "policy-comparison")
    shares = distributions.radius_shares(results)
    assert shares.groupby("point_id")["share"].sum().to_numpy() == pytest.approx(1.0)
    errors = results.errors
    consumed = errors[errors["kind"] == "consumption"].groupby(["run_id", "ue_id"]).ngroups
    assert shares.groupby("point_id")["ues"].first().sum() == consumed
    # the share recovered is the aggregate's recovery rate: the same UEs, the same rule
    table = results.aggregate.set_index("point_id")
    for point, rows in shares.groupby("point_id"):
        recovered = rows.loc[rows["radius"].isin(["none", "process"]), "share"].sum()
        assert recovered == pytest.approx(table.loc[point, "recovery_rate_mean"])
    low, high = shares["cumulative_ci_low"], shares["cumulative_ci_high"]
    assert (low >= 0).all() and (high <= 1).all()


def test_recovery_and_event_survival_side_by_side(results_tree):
    results = load(results_tree / "policy-comparison")
    figure = figures.recovery_vs_event_survival(results)
    assert len(figure.axes[0].containers) == 2 * len(results.aggregate)
    assert figure.axes[0].get_xlim() == pytest.approx((-0.02, 1.02))


def test_timeline_shows_one_error_through_every_layer(run_dir):
    results = load(run_dir)
    run_id, error_id = timeline.pick_error(results)
    hops = results.hops[(results.hops["run_id"] == run_id) & (results.hops["error_id"] == error_id)]
    lanes = set(hops["source"].map(timeline.lane)) | set(hops["destination"].map(timeline.lane))
    assert {"memory", "cpu", "el3", "kvm", "vmm", "guest"} <= lanes  # qemu-ras: firmware-first
    figure = timeline.timeline(results)
    labels = [t.get_gid() for t in figure.axes[0].texts if (t.get_gid() or "").startswith("hop:")]
    assert labels == [f"hop:{kind}" for kind in hops.sort_values("sent_ns")["kind"]]
    ticks = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert ticks[0].startswith("DRAM") and ticks[-1] == "guest kernel"


def test_missing_inputs_say_what_is_missing(results_tree):
    results = load(results_tree / "kernel-share")
    with pytest.raises(Unavailable, match=r"needs a sweep over memory.ue_rate"):
        figures.outcomes_vs_ue_rate(results)
    with pytest.raises(Unavailable, match=r"needs errors.parquet"):
        distributions.latency_cdf(results)
    with pytest.raises(Unavailable, match=r"needs hops.parquet"):
        timeline.timeline(results)


def test_run_directory_reads_as_one_point(run_dir):
    results = load(run_dir)
    assert results.kind == "run" and len(results.aggregate) == 1
    assert results.replications == 2
    assert results.aggregate.loc[0, "hypervisor_policy"] == results.scenario["hypervisor_policy"]
    assert isinstance(results.errors, pd.DataFrame) and "run_id" in results.errors


def test_factors_set_together_are_one_axis_not_extra_series(results_tree):
    results = load(results_tree / "kernel-share")
    kernel = results.aggregate["guest_memory_map_guest_kernel"]
    together = replace(
        results,
        aggregate=results.aggregate.assign(guest_memory_map_guest_anon=0.49 - kernel),
        factors=(*results.factors, "guest_memory_map_guest_anon"),
    )
    figure = figures.recovery_vs_kernel_share(together)
    labels = [line.get_label() for line in figure.axes[0].get_lines()]
    assert labels == ["serror_fallback", "exit_to_user"]


def _latencies(results, latency_ns):
    """``results`` whose consumed errors took ``latency_ns``, half under each policy."""
    policies = ["serror_fallback", "exit_to_user"] * (len(latency_ns) // 2)
    errors = pd.DataFrame(
        {"kind": "consumption", "latency_ns": latency_ns, "hypervisor_policy": policies}
    )
    return replace(results, errors=errors)


def test_latency_axis_names_its_unit_and_ticks_plainly(results_tree):
    results = load(results_tree / "policy-comparison")
    narrow = distributions.latency_cdf(_latencies(results, np.linspace(20e3, 90e3, 40)))
    axes = narrow.axes[0]
    narrow.canvas.draw()
    assert axes.get_xlabel().endswith("(µs)") and axes.get_xscale() == "linear"
    ticks = [t.get_text() for t in axes.get_xticklabels() if t.get_text()]
    assert ticks and all(t.replace(",", "").isdigit() for t in ticks)  # 20, 40, 60, 80
    decades = distributions.latency_cdf(_latencies(results, np.geomspace(500, 40e3, 40)))
    assert decades.axes[0].get_xlabel().endswith("(µs, log scale)")
    wide = distributions.latency_cdf(_latencies(results, np.geomspace(500, 300e9, 40)))
    wide.canvas.draw()
    assert wide.axes[0].get_xlabel().endswith("(log scale, units on the ticks)")
    shown = [t.get_text() for t in wide.axes[0].get_xticklabels() if t.get_text()]
    assert "1 µs" in shown and "1 s" in shown and not any("$" in t for t in shown)
    assert not narrow.axes[0].get_legend()  # the legend is under the axes, not on the curves
    assert [t.get_text() for t in narrow.legends[0].get_texts()] == [
        "serror_fallback (n=20)",
        "exit_to_user (n=20)",
    ]


def test_point_figures_say_what_their_points_are(results_tree, run_dir):
    results = load(results_tree / "policy-comparison")
    for draw in (distributions.blast_radius, distributions.downtime):
        axes = draw(results).axes[0]
        assert axes.get_ylabel() == "KVM policy, VMM SEA handling"
        assert "(%)" in axes.get_xlabel() or "(minutes per VM-year)" in axes.get_xlabel()
    figure = timeline.timeline(load(run_dir))
    assert figure.axes[0].get_title(loc="left").startswith("policy ")  # not over the title
    assert [t.get_text() for t in figure.texts] == [figure.get_suptitle()]  # nothing else
