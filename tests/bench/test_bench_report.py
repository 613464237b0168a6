"""The benchmark's pure helpers: percentiles, summaries, targets, wrk parsing, accounting.
(The benchmark itself never runs in the test suite.)"""

from __future__ import annotations

import pytest

from bench import wrk
from bench.measurements import paired_ratios
from bench.report import Row, Target, markdown, median_steps, percentile, spread_of, summarize
from bench.ws_load import StepBook, key_of, parse_key, schedule

WRK_OUTPUT = """Running 2s test @ http://127.0.0.1:8000/
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.21ms    1.02ms  21.33ms   90.12%
    Req/Sec    10.02k   712.33    10.90k    80.00%
  Latency Distribution
     50%  491.00us
     75%    3.50ms
     90%    4.10ms
     99%    1.20s
  19952 requests in 2.00s, 46.20MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 7
Requests/sec:   9975.51
Transfer/sec:     23.09MB
"""


def test_percentile_interpolates_between_ranks():
    assert percentile([], 50) is None
    assert percentile([7], 99) == 7
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile(range(101), 99) == 99
    with pytest.raises(ValueError):
        percentile([1], 101)


def test_summary_reports_the_median_and_keeps_every_run():
    assert summarize([3.0, 1.0, 2.0]) == {"median": 2.0, "min": 1.0, "max": 3.0,
                                          "runs": [3.0, 1.0, 2.0]}
    assert summarize([])["median"] is None


def test_median_steps_keep_only_the_figures_asked_for_and_every_pass_of_each_step():
    passes = [[{"p99_ms": 10.0, "lost": 0, "other": 1}, {"p99_ms": 30.0, "lost": 2}],
              [{"p99_ms": 20.0, "lost": None, "other": 2}],  # stopped after its first step
              [{"p99_ms": 60.0, "lost": 1, "other": 3}, {"p99_ms": 50.0, "lost": 4}]]
    first, second = median_steps(passes, [100, 300], ("p99_ms", "lost"))
    assert first["offered_sends_per_s"] == 100 and first["p99_ms"] == 20.0
    assert first["lost"] == 0.5  # a figure a pass did not measure is left out, not zero
    assert "other" not in first and len(first["runs"]) == 3
    assert second["p99_ms"] == 40.0 and len(second["runs"]) == 2
    assert second["summary"]["lost"] == summarize([2, 4])


def test_row_divides_by_its_ceiling_and_judges_the_target():
    assert Row("me", 8000, "req/s", 10000, target=Target(">=", 0.8)).result == "pass"
    failing = Row("me p99", 30, "ms", 10, target=Target("<=", 2.0))
    assert failing.ratio == 3.0 and failing.result == "FAIL"
    assert Row("feed p99", 12, "ms", target=Target("<", 20, on="value")).result == "pass"
    assert Row("no ceiling", 5, "ms", target=Target(">=", 1)).result == "—"


def test_markdown_table_has_a_line_per_row():
    rows = [Row("ceiling: hello", 10000, "req/s"),
            Row("me", 8000, "req/s", 10000, "hello", Target(">=", 0.8))]
    text = markdown(rows, {"label": "smoke run"})
    assert "| me | 8,000 req/s | 10,000 req/s (hello) | 0.80× | ≥ 0.8× | pass |" in text
    assert text.startswith("# Nirvana benchmark — smoke run")


def test_markdown_shows_the_spread_of_the_repetitions_beside_the_median():
    swinging = Row("p99", 45.4, "ms", spread=spread_of(summarize([76.3, 45.4, 38.0])))
    steady = Row("p99", 2.0, "ms", spread=spread_of(summarize([2.0, 2.0, 2.0])))
    lines = markdown([swinging, steady], {}).splitlines()
    assert "| p99 | 45.4 ms (38.0–76.3) |" in lines[-2]
    assert "| p99 | 2.00 ms |" in lines[-1]  # no brackets when every run agreed
    assert spread_of(summarize([])) is None


def test_paired_ratios_divide_each_run_by_the_ceiling_run_beside_it():
    hello = [{"requests_per_s": 10_000}, {"requests_per_s": 8_000}, {"requests_per_s": 9_000}]
    me = [{"requests_per_s": 7_000}, {"requests_per_s": 6_400}, {"requests_per_s": 7_200}]
    assert paired_ratios(hello, me) == "ratio per repetition 0.70–0.80×"
    assert paired_ratios(hello[:1], me[:1]) == ""


def test_wrk_output_is_parsed_in_milliseconds():
    result = wrk.parse(WRK_OUTPUT)
    assert result["requests_per_s"] == 9975.51
    assert result["p50_ms"] == pytest.approx(0.491)
    assert result["p99_ms"] == 1200
    assert result["requests"] == 19952 and result["socket_errors"] == 3
    assert result["non_2xx"] == 7


def test_wrk_done_line_overrides_with_exact_percentiles():
    line = ('BENCH_JSON {"p50_us": 400, "p90_us": 900, "p95_us": 1500, "p99_us": 3000, '
            '"max_us": 9000, "requests": 10, "status_errors": 0, "timeouts": 0}\n')
    result = wrk.parse(WRK_OUTPUT + line)
    assert result["p95_ms"] == 1.5 and result["p99_ms"] == 3.0


def test_lua_script_draws_paths_at_random_only_when_there_are_several():
    one = wrk.lua_script(["/a"], {"Authorization": "Bearer t"})
    assert 'wrk.headers["Authorization"] = "Bearer t"' in one and "request =" not in one
    assert 'local paths = {"/a", "/b"}' in wrk.lua_script(["/a", "/b"])


def test_open_loop_schedule_is_evenly_spaced_and_bounded():
    due = schedule(rate=4, duration=1, start=10.0)
    assert due == [10.0, 10.25, 10.5, 10.75]


def test_step_book_counts_latency_losses_and_duplicates():
    book = StepBook(step=0)
    book.sent(0, due=1.0, recipients=2)
    book.sent(1, due=2.0, recipients=2)
    book.delivered(0, 1.5)
    book.delivered(0, 1.25)
    book.delivered(0, 1.75)  # a third copy for two recipients
    book.delivered(1, 2.5)
    book.delivered(9, 3.0)  # never sent
    summary = book.summary()
    assert summary["deliveries"] == 3 and summary["duplicates"] == 1
    assert summary["lost"] == 1 and summary["unknown"] == 1
    assert summary["p50_ms"] == 500
    assert parse_key(key_of(3, 42)) == (3, 42)
