"""Instruments on one trial's saved model: ``caseray analyze rescore`` (the trial's own evaluation with
logn attention) and ``caseray analyze id-spacing`` (other id maps)."""

import json

import pyarrow.parquet as pq
import pytest
import torch

from caseray.cli.main import main
from caseray.core.specs import from_dict
from caseray.data.places import digit_places
from caseray.train.positions import Positions
from caseray.trial.id_spacing import id_map
from caseray.trial.run import run_trial
from caseray.trial.spec import TrialSpec


@pytest.fixture(scope="module")
def saved_trial(tmp_path_factory):
    """A tiny coupled-id length trial, tested only on its training lengths, its model saved."""
    spec = from_dict(TrialSpec, {
        "format": "direct", "format_options": {"reverse": True}, "tokenizer": "digit",
        "model": {"scale": "llama-tiny", "positions": "coupled_random"}, "save_model": True,
        "train": {"steps": 40, "batch_size": 32, "lr": 3e-3, "log_every": 1000},
        "lengths": {"train_digits": [1, 2], "test_digits": [1, 2], "train_per_length": 200, "test_per_length": 20}})
    root = tmp_path_factory.mktemp("trials")
    return run_trial(spec, root).out_dir


def test_rescoring_with_logn_is_the_trials_own_evaluation_where_rows_are_no_longer_than_training(saved_trial,
                                                                                                     tmp_path):
    """No test row is longer than the longest training row, so logn's factor is 1 everywhere: the
    rescored cells are the trial's own, cell for cell; only the spec (and so the name) differs."""
    root = tmp_path / "rescored"
    assert main(["analyze", "rescore", str(saved_trial), "--attention", "logn", "--out", str(root)]) == 0
    (out,) = list(root.iterdir())
    before, after = pq.read_table(saved_trial / "cells.parquet"), pq.read_table(out / "cells.parquet")
    for column in ("a", "b", "split", "greedy_correct", "step_acc"):
        assert before[column].to_pylist() == after[column].to_pylist(), column
    assert 0 < sum(before["greedy_correct"].to_pylist()) < before.num_rows  # half-trained: both kinds of cells
    spec = json.loads((out / "spec.json").read_text())
    assert spec["model"]["attention"] == "logn" and out.name != saved_trial.name
    assert (out / "rescored_from.txt").read_text().strip() == str(saved_trial.resolve())


def test_the_even_map_is_the_trials_own_test_ids():
    prompt = "12345+678="
    span = max(digit_places(prompt)) + 1
    for id_range in (64, 256):
        places = torch.tensor([[0] + digit_places(prompt)])
        own = Positions("coupled_random", id_range=id_range).ids(places, places.shape, spans=torch.tensor([span]))
        mapped = id_map(span, "even", id_range, None)
        assert own[0].tolist() == [mapped[p] for p in places[0].tolist()]


@pytest.mark.parametrize("argv, words", [
    (["analyze", "rescore", "{missing}", "--attention", "logn"], "trial: no trial in"),
    (["analyze", "rescore", "{no_model}", "--attention", "logn"], "trial: no saved model in"),
    (["analyze", "rescore", "{logn_trained}", "--attention", "logn"], "trial: logn_trained was trained with "
                                                                         "logn_train attention"),
    (["analyze", "id-spacing", "{trial}", "--maps", "gap0"], "maps: unknown id map 'gap0'"),
    (["analyze", "id-spacing", "{trial}", "--digits", "3,x"], "digits: '3,x' is not a list of lengths"),
])
def test_bad_input_exits_2_naming_the_argument_and_writes_nothing(saved_trial, tmp_path, capsys, argv, words):
    no_model = tmp_path / "no_model"
    no_model.mkdir()
    (no_model / "spec.json").write_text((saved_trial / "spec.json").read_text())
    logn_trained = tmp_path / "logn_trained"  # (its scaling is already in training: nothing to compare)
    (logn_trained / "model").mkdir(parents=True)
    spec = json.loads((saved_trial / "spec.json").read_text())
    spec["model"]["attention"] = "logn_train"
    (logn_trained / "spec.json").write_text(json.dumps(spec))
    (logn_trained / "model" / "config.json").write_text((saved_trial / "model" / "config.json").read_text())
    argv = [a.format(missing=tmp_path / "missing", no_model=no_model, trial=saved_trial,
                     logn_trained=logn_trained) for a in argv]
    assert main(argv + (["--out", str(tmp_path / "out")] if argv[1] == "rescore" else [])) == 2
    assert words in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_by_tenths_averages_equal_stretches_of_the_answer():
    from caseray.trial.id_spacing import by_tenths

    assert by_tenths([1.0, 0.0, 0.5]) == [1.0, 0.0, 0.5]  # shorter than ten: one place each
    errors = [i / 19 for i in range(20)]
    assert by_tenths(errors) == [(errors[2 * k] + errors[2 * k + 1]) / 2 for k in range(10)]


def test_per_place_errors_bound_exact_match_and_logn_changes_nothing_on_training_lengths(saved_trial, capsys):
    """Exact match lies between 1 - (sum of per-place error rates) and 1 - (the largest); on problems no
    longer than training, test-time logn scores every map exactly as plain attention does."""
    from caseray.data.tokenizers import load_tokenizer
    from caseray.train.models import load_trained
    from caseray.trial.id_spacing import spacing_scores
    from caseray.trial.rescore import saved_trial as read_trial

    folder, spec = read_trial(saved_trial)
    model, tokenizer = load_trained(spec.model, folder / "model").eval(), load_tokenizer(folder / "tokenizer")
    exact, errors = spacing_scores(model, tokenizer, 2, "even", spec.model.coupled_ids)
    assert len(errors) == 4  # up to 3 answer digits and the end token
    assert 1 - sum(errors) - 1e-9 <= exact <= 1 - max(errors) + 1e-9
    argv = ["analyze", "id-spacing", str(saved_trial), "--maps", "even,gap3", "--digits", "1,2", "--per-place"]
    assert main(argv) == 0
    plain = capsys.readouterr().out
    assert main(argv + ["--attention", "logn"]) == 0
    assert capsys.readouterr().out == plain
    assert "wrong at each tenth of the answer" in plain
    assert len(plain.splitlines()) == 1 + 2 + 1 + 1 + 4  # header, 2 lengths, a blank, the title, 2 x 2 rows
