"""Folders a trial points at: named by what they hold (new weights or a new tokenizer, a new trial name;
the same files elsewhere, the same name), made absolute when the spec is built; and a from-scratch
model's LoRA saved whole, so the saved model is the trained one."""

import json
import os
import shutil

import pytest

from caseray.core.specs import from_dict
from caseray.trial.spec import TrialSpec
from helpers import save_tiny_checkpoint


def local_spec(folder) -> TrialSpec:
    return from_dict(TrialSpec, {"task": {"high": 19}, "split": {"center": [10, 10], "half_width": 3},
                                 "model": {"scale": f"path:{folder}"}, "tokenizer": f"hf:{folder}"})


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ck") / "ck"
    save_tiny_checkpoint(folder)
    return folder


def test_the_same_files_elsewhere_keep_the_name(checkpoint, tmp_path):
    copy = tmp_path / "elsewhere"
    shutil.copytree(checkpoint, copy)
    a, b = local_spec(checkpoint), local_spec(copy)
    assert a.model.scale != b.model.scale  # two places ...
    assert a.name == b.name  # ... one content, one trial


def test_new_weights_of_the_same_shapes_make_a_new_name(checkpoint, tmp_path):
    import torch
    from safetensors.torch import load_file, save_file

    copy = tmp_path / "retrained"
    shutil.copytree(checkpoint, copy)
    before = local_spec(copy).name
    weights = load_file(copy / "model.safetensors")
    save_file({k: v + 0.01 * torch.randn_like(v) for k, v in weights.items()}, copy / "model.safetensors",
              metadata={"format": "pt"})
    assert local_spec(copy).name != before


def test_a_changed_tokenizer_or_config_makes_a_new_name(checkpoint, tmp_path):
    copy = tmp_path / "tok"
    shutil.copytree(checkpoint, copy)
    before = local_spec(copy).name
    config = json.loads((copy / "tokenizer_config.json").read_text())
    (copy / "tokenizer_config.json").write_text(json.dumps({**config, "model_max_length": 77}))
    after_tokenizer = local_spec(copy).name
    config = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**config, "resid_pdrop": 0.3}))
    assert len({before, after_tokenizer, local_spec(copy).name}) == 3


def test_relative_folders_are_made_absolute_where_the_spec_is_built(checkpoint, tmp_path, monkeypatch):
    monkeypatch.chdir(checkpoint.parent)
    spec = local_spec(checkpoint.name)
    assert spec.model.scale == f"path:{checkpoint}" and spec.tokenizer == f"hf:{checkpoint}"
    monkeypatch.chdir(tmp_path)  # a trial process elsewhere rebuilds the same spec
    assert from_dict(TrialSpec, spec.to_dict()) == spec


def test_a_folder_transformers_cannot_load_is_bad_input(tmp_path):
    from caseray.core.errors import SpecError
    from caseray.train.models import load_checkpoint

    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    (folder / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(SpecError) as err:
        load_checkpoint(folder)
    assert err.value.field == "model.scale"


@pytest.mark.parametrize("scale", ["tiny", "llama-tiny"])
def test_lora_on_a_from_scratch_scale_saves_the_trained_model(scale, tmp_path):
    """The base weights of a from-scratch model exist nowhere else: the adapter is merged into them and
    the whole model saved; loading it back gives the trained model's logits."""
    import torch

    from caseray.data.tokenizers import build_tokenizer
    from caseray.train.models import LoraSpec, ModelSpec, build_model, load_trained, save_trained

    spec = ModelSpec(scale=scale, lora=LoraSpec(rank=4, alpha=8, dropout=0.0))
    torch.manual_seed(0)
    model = build_model(spec, build_tokenizer("digit"), 32)
    with torch.no_grad():  # "train" the adapter: LoRA's B starts at zero, so move it
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.add_(0.05 * torch.randn_like(p))
    model.eval()
    ids = torch.randint(3, 20, (2, 12))
    expected = model(input_ids=ids).logits
    save_trained(spec, model, tmp_path / "model")
    assert not (tmp_path / "model" / "adapter_config.json").exists()
    loaded = load_trained(spec, tmp_path / "model").eval()
    assert torch.allclose(loaded(input_ids=ids).logits, expected, atol=1e-5)
    assert os.path.exists(tmp_path / "model" / "model.safetensors")


def test_a_checkpoint_found_broken_only_when_loaded_leaves_nothing(checkpoint, tmp_path, monkeypatch, capsys):
    from caseray.cli.main import main

    broken = tmp_path / "broken"
    shutil.copytree(checkpoint, broken)
    (broken / "model.safetensors").write_bytes(b"\xff" * 64)  # passes the spec's checks, fails to load
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("CASERAY_CACHE", str(tmp_path / "cache"))
    code = main(["trial", "--set", f"model.scale=path:{broken}", "--set", f"tokenizer=hf:{broken}",
                 "--set", "task.high=19", "--set", "split.center=[10,10]", "--set", "split.half_width=3",
                 "--set", "train.steps=1", "--out", "out"])
    assert code == 2
    assert "caseray: error: model.scale: transformers cannot load" in capsys.readouterr().err
    assert list(work.iterdir()) == []  # no trial folder, not even the results folder it would have made


def test_results_read_back_without_their_folders(checkpoint, tmp_path, monkeypatch, capsys):
    """A report is made where the weights are not: the trial recorded its folders' digests, so its spec
    reads back under its own name; without that record, the missing folder is named."""
    from dataclasses import replace

    from caseray.cli.main import main
    from caseray.core import local_folders
    from caseray.core.errors import SpecError
    from caseray.sweep.results import from_local, from_mlflow, write_manifest
    from caseray.sweep.tracking import Tracker
    from caseray.train.spec import TrainSpec
    from caseray.trial.run import run_trial

    folder = tmp_path / "ck"
    shutil.copytree(checkpoint, folder)
    monkeypatch.setenv("CASERAY_CACHE", str(tmp_path / "cache"))
    spec = replace(local_spec(folder), train=TrainSpec(steps=2, batch_size=8), save_model=False)
    storage = tmp_path / "sweeps"
    result = run_trial(spec, storage / "trials")
    write_manifest(storage, "moved-0a1b2c3d", {"name": "moved"}, [spec.name])
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    tracker = Tracker(uri)
    parent = tracker.parent_run("moved-0a1b2c3d", {"name": "moved"})
    tracker.finish_trial(tracker.child_run(parent, "moved-0a1b2c3d", spec), result)
    shutil.rmtree(folder)  # the results travel; the checkpoint does not
    monkeypatch.setattr(local_folders, "_REMEMBERED", {})  # as a new process: nothing remembered

    _, (record,) = from_local(storage, "moved")
    assert record.name == spec.name == result.name and record.spec.model.scale == f"path:{folder}"
    monkeypatch.setattr(local_folders, "_REMEMBERED", {})
    _, (logged,) = from_mlflow(uri, "moved", tmp_path / "downloads")  # the same, through MLflow's artifacts
    assert logged.name == spec.name and logged.spec == record.spec
    assert main(["report", "moved", "--storage", str(storage), "--out", str(tmp_path / "report")]) == 0
    assert (tmp_path / "report" / "report.md").is_file()

    (storage / "trials" / spec.name / "folders.json").unlink()  # a trial from before the record
    monkeypatch.setattr(local_folders, "_REMEMBERED", {})
    with pytest.raises(SpecError) as err:
        from_local(storage, "moved")
    assert err.value.field == "model.scale" and "no checkpoint folder" in err.value.message
    capsys.readouterr()
