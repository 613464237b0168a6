"""The `instances` part's arithmetic (bench/instances_report.py): CPU per delivery summed over
the instances, medians over passes, the rate reached at the p99 target, the ratios two ÷ one
and where a configuration first missed the target."""

from __future__ import annotations

import pytest

from bench.instances_report import STEP_KEYS, at_target, compare, cpu_figures, rows, store_limit
from bench.report import median_steps as median_steps_of


def median_steps(passes: list[list[dict]], rates: list[float]) -> list[dict]:
    return median_steps_of(passes, rates, STEP_KEYS)  # as bench/instances.py calls it


def step(rate: float, delivered: float, p99: float | None, lost: int = 0,
         server_us: float = 40.0, store_us: float = 20.0) -> dict:
    return {"offered_sends_per_s": rate, "offered_deliveries_per_s": rate * 10,
            "delivered_per_s": delivered, "p50_ms": p99 and p99 / 4, "p99_ms": p99,
            "lost": lost, "duplicates": 0, "server_cpu_us_per_delivery": server_us,
            "store_cpu_us_per_delivery": store_us, "postgres_cpu_us_per_delivery": 1.0,
            "mongo_cpu_us_per_delivery": store_us - 1.0, "redis_cpu_us_per_delivery": 3.0,
            "server_cores": 0.5, "store_cores": 0.25, "generator_cpu_share": 0.3,
            "refused": 0}


def test_cpu_per_delivery_sums_the_instances_and_keeps_the_stores_and_redis_apart():
    before = {"instance0": 10.0, "instance1": 20.0, "postgres": 1.0, "mongo": 2.0,
              "redis": 0.5}
    after = {"instance0": 10.3, "instance1": 20.1, "postgres": 1.05, "mongo": 2.15,
             "redis": 0.52}
    figures = cpu_figures(before, after, deliveries=10_000, seconds=2.0)
    assert figures["server_cpu_us_per_delivery"] == pytest.approx(40.0)  # (0.3 + 0.1) s
    assert figures["store_cpu_us_per_delivery"] == pytest.approx(20.0)  # (0.05 + 0.15) s
    assert figures["mongo_cpu_us_per_delivery"] == pytest.approx(15.0)
    assert figures["redis_cpu_us_per_delivery"] == pytest.approx(2.0)
    assert figures["server_cores"] == pytest.approx(0.2)
    assert figures["store_cores"] == pytest.approx(0.1)
    # No deliveries at all: per-delivery figures stay finite (the step is reported, not lost).
    assert cpu_figures(before, after, 0, 1.0)["server_cpu_us_per_delivery"] == pytest.approx(
        400_000.0)


def test_median_steps_take_the_median_of_each_figure_over_the_passes():
    passes = [[step(100, 1000, 10), step(300, 3000, 30)],
              [step(100, 990, 12), step(300, 2900, 90, lost=5)],
              [step(100, 1001, 50), step(300, 3001, 20)]]
    steps = median_steps(passes, [100, 300])
    assert [s["offered_sends_per_s"] for s in steps] == [100, 300]
    assert steps[0]["delivered_per_s"] == 1000 and steps[0]["p99_ms"] == 12
    assert steps[1]["p99_ms"] == 30 and steps[1]["lost"] == 0
    assert steps[1]["summary"]["p99_ms"]["max"] == 90 and len(steps[1]["runs"]) == 3


def test_the_rate_at_target_is_the_best_step_within_p99_and_nothing_late():
    steps = [step(100, 1000, 10), step(300, 3000, 40), step(500, 4900, 45, lost=12),
             step(1000, 6000, 800)]
    assert at_target(steps, 50.0)["offered_sends_per_s"] == 300  # 500 lost 12
    assert at_target(steps, 5.0) is None
    assert at_target([step(100, 1000, None)], 50.0) is None  # nothing delivered, no p99


def test_compare_divides_two_by_one_at_the_same_offered_rate():
    one = [step(100, 1000, 10, server_us=40, store_us=20),
           step(300, 3000, 30, server_us=30, store_us=16),
           step(500, 4000, 900, lost=40)]
    two = [step(100, 1000, 12, server_us=80, store_us=22),
           step(300, 3000, 60, server_us=60, store_us=20),
           step(500, 4500, 70, lost=0)]
    summary = compare(one, two, p99_ms=50.0)
    assert summary["one_at_target"] == 3000 and summary["two_at_target"] == 1000
    assert summary["at_target_ratio"] == pytest.approx(1 / 3)
    # CPU is compared where both delivered everything: 300 sends/s, not 500 (one lost 40).
    assert summary["compared_at_sends_per_s"] == 300
    assert summary["server_cpu_us_per_delivery_ratio"] == pytest.approx(2.0)
    assert summary["store_cpu_us_per_delivery_ratio"] == pytest.approx(1.25)
    assert summary["p99_ms_ratio"] == pytest.approx(2.0)


def test_compare_without_a_common_clean_step_has_no_ratios():
    summary = compare([step(100, 500, 900, lost=5)], [step(100, 1000, 10)], p99_ms=50.0)
    assert summary["one_at_target"] is None and summary["at_target_ratio"] is None
    assert summary["compared_at_sends_per_s"] is None
    assert summary["server_cpu_us_per_delivery_ratio"] is None


def test_store_limit_names_the_first_step_that_missed_the_target():
    steps = [step(100, 1000, 10), step(300, 2500, 40, lost=3), step(500, 2600, 900)]
    limit = store_limit(steps, 50.0)
    assert limit["offered_sends_per_s"] == 300 and limit["lost"] == 3
    assert limit["store_cores"] == 0.25
    assert store_limit(steps[:1], 50.0) is None


def test_rows_report_each_step_and_the_ratios_or_say_why_not():
    one = median_steps([[step(100, 1000, 10), step(300, 3000, 30)]], [100, 300])
    two = median_steps([[step(100, 1000, 12, server_us=80), step(300, 3000, 40)]], [100, 300])
    table = rows(one, two, compare(one, two, 50.0))
    names = [r.measurement for r in table]
    assert sum("one instance," in n for n in names) == 2
    assert sum("two instances," in n for n in names) == 2
    at = next(r for r in table if "at p99 ≤ 50 ms" in r.measurement)
    assert at.value == 3000 and at.ratio == pytest.approx(1.0)
    cpu = next(r for r in table if "instances' CPU per delivery" in r.measurement)
    assert "at 300 sends/s" in cpu.measurement and cpu.ratio == pytest.approx(1.0)
    late = median_steps([[step(100, 10, 900, lost=9)]], [100])
    skipped = rows(late, late, compare(late, late, 50.0))
    assert [r.result for r in skipped[-2:]] == ["skipped", "skipped"]
