"""The long-trace evaluation benchmark runs, in --quick mode, with identical per-row results: the
same verdict, first wrong position and token there, and -- each generated trace fed back as the
target -- the same greedy token at every position of every trace."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_long_trace_benchmark_is_identical(capsys):
    spec = importlib.util.spec_from_file_location("long_trace_eval", ROOT / "benchmarks" / "long_trace_eval.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = bench.main(["--quick", "--threads", "1"])
    assert out["identical"] and out["long_enough"]
    assert [g["digits"] for g in out["groups"]] == [1, 2]
    for g in out["groups"]:
        assert g["mismatches"] == 0 and g["mean_trace_tokens"] >= 300
        assert g["fed_back_mismatches"] == 0 and g["fed_back_positions"] >= g["rows"] * g["mean_trace_tokens"]
        assert g["gen_tokens"] >= g["tf_tokens"]  # forced full length: generate wrote every trace
    assert "per-row results identical: True" in capsys.readouterr().out
