"""Malformed sweep and trial specs, through the real command line: each is refused with exit code 2
and a message naming the field (and what is allowed) before Ray starts or anything is written."""

import pytest
import yaml

from caseray.cli.main import main

BASE = {"task": {"high": 19}, "split": {"center": [10, 10], "half_width": 3}, "train": {"steps": 5}}

# (sweep mapping, field named in the message, words the message must hold)
BAD_SWEEPS = [
    ({"axes": {"seed": "0,1"}}, "axes.seed", "non-empty list"),
    ({"axes": {"seed": []}}, "axes.seed", "non-empty list"),
    ({"axes": {"sede": [0]}}, "sede", "unknown key"),
    ({"axes": {"threads": [1, 2]}}, "axes", "same trial"),
    ({"base": {**BASE, "train": {"steps": "many"}}}, "train.steps", "integer"),
    ({"base": {**BASE, "train": {"steps": 0}}}, "train.steps", "minimum 1"),
    ({"base": {**BASE, "train": {"lr": -1}}}, "train.lr", "lr"),
    ({"base": {**BASE, "train": {"steps": 5, "epochs": 2}}}, "train.steps", "not both"),
    ({"base": {**BASE, "train": {"precision": "fp8"}}}, "train.precision", "allowed: fp32, bf16"),
    ({"base": {**BASE, "train": {"schedule": "step"}}}, "train.schedule", "allowed: cosine"),
    ({"base": {**BASE, "train": {"batch_size": 0}}}, "train.batch_size", "minimum 1"),
    ({"base": {**BASE, "task": {"name": "subtraction"}}}, "task.name", "allowed: addition"),
    ({"base": {**BASE, "task": {"high": -5}}}, "task.high", "below the minimum"),
    ({"base": {**BASE, "split": {"center": [18, 10], "half_width": 3}}}, "split.center", "outside the grid"),
    ({"base": {**BASE, "split": {"half_width": 9}}}, "split", "max_test_fraction"),
    ({"base": {**BASE, "split": {"kind": "hexagon"}}}, "split.kind", "allowed: square, squares, random"),
    ({"base": {**BASE, "split": {"kind": "random", "test_fraction": 1.5}}}, "split.test_fraction", "test_fraction"),
    ({"base": {**BASE, "data_size": 100000}}, "data_size", "training cells"),
    ({"base": {**BASE, "format": "direct", "lema": {}}}, "format", "writes none"),
    ({"base": {**BASE, "format": "essay"}}, "format", "allowed: direct"),
    ({"base": {**BASE, "tokenizer": "sentencepiece"}}, "tokenizer", "allowed"),
    ({"base": {**BASE, "tokenizer": "hf:/no/such/tokenizer"}}, "tokenizer", "/no/such/tokenizer"),
    ({"base": {**BASE, "model": {"scale": "gpt5"}}}, "model.scale", "allowed: base, gpt2-124m"),
    ({"base": {**BASE, "model": {"scale": "path:/no/such/model"}}}, "model.scale", "never downloads"),
    ({"base": {**BASE, "model": {"dropout": 2}}}, "model.dropout", "dropout"),
    ({"base": {**BASE, "model": {"lora": {"rank": 0}}}}, "model.lora.rank", "minimum 1"),
    ({"base": {**BASE, "eval": {"samples": -1}}}, "eval.samples", "minimum 0"),
    ({"base": {**BASE, "device": "tpu"}}, "device", "allowed: cpu, cuda, auto"),
    ({"axes": {"seed": [0, 1.5]}}, "seed", "integer"),
    ({"base": {**BASE, "colour": "red"}}, "colour", "unknown key"),
    ({"resources": {"backend": "horovod"}}, "resources.backend", "allowed: inline, ddp, deepspeed"),
    ({"resources": {"cpus_per_trial": 0}}, "resources.cpus_per_trial", "above 0"),
    ({"resources": {"cpus_per_trial": 4096}}, "resources.cpus_per_trial", "the local Ray has"),
    ({"resources": {"gpus_per_trial": 64}, "base": {**BASE, "device": "auto"}}, "resources.gpus_per_trial",
     "this machine has"),
    ({"resources": {"backend": "deepspeed", "zero_stage": 5}}, "resources.zero_stage", "maximum 3"),
    ({"resources": {"backend": "ddp", "num_workers": 64, "cpus_per_trial": 64}, "base": {**BASE}},
     "resources.cpus_per_trial", "the local Ray has"),
    ({"tracking_uri": "mlruns/"}, "tracking_uri", "allowed: sqlite:"),
    ({"storage_path": "ftp://host/sweeps"}, "storage_path", "s3://bucket/prefix"),
    ({"storage_path": ""}, "storage_path", "not a results location"),
    ({"name": "my sweep!"}, "name", "letters"),
]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """An empty working directory (the default sqlite store and results folder would land here)."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def files_under(path):
    return sorted(p.relative_to(path) for p in path.rglob("*"))


@pytest.mark.parametrize("data,field,words", BAD_SWEEPS, ids=[f"{i}-{c[1]}" for i, c in enumerate(BAD_SWEEPS)])
def test_bad_sweep_is_refused_before_anything_runs(data, field, words, workdir, tmp_path, capsys):
    import ray

    spec = tmp_path / "sweep.yaml"
    spec.write_text(yaml.safe_dump({"name": "bad", "base": BASE, "axes": {"seed": [0]}, **data}))
    assert main(["sweep", "run", str(spec)]) == 2
    err = capsys.readouterr().err
    assert f"error: {field}:" in err, err
    assert words in err, err
    assert not ray.is_initialized()
    assert files_under(workdir) == []  # no mlflow.db, no results folder, nothing half-written
    assert not (tmp_path / "cache").exists() or files_under(tmp_path / "cache") == []  # no dataset built


@pytest.mark.parametrize("sets,field", [
    (["train.steps=-3"], "train.steps"),
    (["split.center=[200,200]"], "split.center"),
    (["tokenizr=digit"], "tokenizr"),
    (["model.scale=path:/no/such/model"], "model.scale"),
    # found by trying them as a new user would (issue 19): NaN, huge and unicode numbers
    (["train.lr=.nan"], "train.lr"),
    (["train.lr=-.inf"], "train.lr"),
    (["seed=100000000000000"], "seed"),
    (["tokenizer=number:²"], "tokenizer"),
    (["task.high=100000000"], "task.high"),
    (["model.lora.target_modules=[nope]"], "model.lora.target_modules"),
    (["train.lr={a: 1, a: 2}"], "--set train.lr"),
    (["=3"], "--set"),
])
def test_bad_trial_is_refused_before_anything_runs(sets, field, workdir, capsys):
    argv = ["trial", "--out", str(workdir / "out")]
    for item in sets:
        argv += ["--set", item]
    assert main(argv) == 2
    assert f"error: {field}:" in capsys.readouterr().err
    assert files_under(workdir) == []


def test_unsafe_yaml_is_refused_and_not_executed(workdir, tmp_path, capsys):
    """YAML is loaded safely: a Python-object tag is an error, never a call."""
    marker = tmp_path / "pwned"
    spec = tmp_path / "evil.yaml"
    spec.write_text(f"name: !!python/object/apply:os.system ['touch {marker}']\nbase: {{}}\n")
    assert main(["sweep", "run", str(spec)]) == 2
    assert "error: spec:" in capsys.readouterr().err
    assert not marker.exists()
    assert files_under(workdir) == []


def _alias_bomb() -> str:
    """Nine levels of nine aliases: 387 million strings once expanded, a few hundred bytes as text."""
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        lines.append(f"{chr(97 + i)}: &{chr(97 + i)} [{', '.join([f'*{chr(96 + i)}'] * 9)}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("text,words", [
    (_alias_bomb() + "name: bomb\n", "expands to more than"),
    ("name: a\nname: b\nbase: {}\n", "'name' appears twice"),
    ("name: a\nbase: {train: {lr: 0.1, lr: 0.2}}\n", "'lr' appears twice"),
    ("name: [\n", "not plain YAML"),
    ("[" * 5000 + "\n", "nests deeper"),
    ("name: a\nbase: 3\n", "base"),
    ("name: a\naxes: [1, 2]\n", "axes"),
], ids=["alias-bomb", "duplicate-key", "nested-duplicate", "syntax", "deep", "base-not-mapping", "axes-not-grids"])
def test_bad_yaml_is_refused_before_it_is_expanded(text, words, workdir, tmp_path, capsys):
    spec = tmp_path / "sweep.yaml"
    spec.write_text(text)
    assert main(["sweep", "run", str(spec), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "caseray: error: " in err and words in err, err
    assert len(err) < 2000  # the input is named, never echoed whole
    assert files_under(workdir) == []


def test_yaml_numbers_are_read_as_yaml_1_2(workdir, capsys):
    """``1e-3`` is a number (YAML 1.1 reads it as a string); ``yes`` is no boolean; ``017`` is 17."""
    from caseray.cli.common import apply_sets
    from caseray.core.specs import from_dict
    from caseray.trial.spec import TrialSpec

    data = apply_sets({}, ["train.lr=1e-3", "seed=017", "train.warmup=5E-2"])
    spec = from_dict(TrialSpec, data)
    assert (spec.train.lr, spec.seed, spec.train.warmup) == (0.001, 17, 0.05)
    assert main(["trial", "--set", "train.lr=1e-3", "--dry-run"]) == 0
    assert main(["trial", "--set", "save_model=yes", "--dry-run"]) == 2
    assert "error: save_model: expected true or false, got 'yes'" in capsys.readouterr().err
    assert files_under(workdir) == []


def test_a_broken_axis_names_the_override(workdir, capsys):
    from caseray.cli.sweep import launch_code

    assert launch_code("square_grid", ["--preset", "smoke", "--axis", "seed=[0,", "--dry-run"]) == 2
    assert "caseray: error: --axis seed: is not plain YAML" in capsys.readouterr().err
    assert files_under(workdir) == []


def test_a_key_with_a_control_character_is_named_on_one_line(workdir, capsys):
    """Found by the fuzz test: a key typed with a newline split the message over two lines."""
    assert main(["sweep", "run", "square_grid", "--dry-run", "--axis", "\n=\x1f"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error: '--axis \\n':" in err
