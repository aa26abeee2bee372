"""Inside a grid trial's saved model (``caseray analyze probe TRIAL``): why do holes sit on a = b?

Four measurements, one forward pass over every cell of the grid ([bos] + prompt + target, the
trial's own position ids), numbers from ``caseray.trial.probe_stats``:

1. **Number-embedding geometry**: the input-embedding rows of the numbers low..high in order -- PCA
   (variance per component, the first three against the number) and a DFT over the number axis
   (energy per frequency, the top ones named; Zhou et al. 2024 find Fourier features there). Only
   where every number is one token (``number`` tokenizer); otherwise skipped with a note (a ``digit``
   trial still gets parts 2-4).
2. **Linear probes at ``=``**: every layer's residual stream at the prompt's last ``=`` (layer 0: the
   embeddings), ridge regression fit on 80% of the training cells (seeded), scored (R², RMSE) on the
   split's test cells and on the other 20% -- targets s = a + b, |d| = |a - b|, d = a - b, and the
   pairs (s, |d|), (s, d).
3. **Attention at ``=``** to the a tokens and the b tokens, per layer and head (eager attention), on
   a = b cells against a != b cells of the same sums (all cells of the grid). With digit tokens an
   operand's attention is summed over its digits, and a != b cells of a sum can be longer than its
   a = b cell (10+2 against 6+6): there the comparison also compares lengths.
4. **Failed cells** (``greedy_correct`` false in cells.parquet): the numeric error (the greedy answer,
   from the ``output`` column or decoded again where a trial predates it, minus the answer) and the
   logit margin at the first answer token (the right token's logit minus the best other one's,
   teacher-forced), against |d| and s; the margin of every test cell too.

Grid trials whose prompt ends with ``a <op> b =`` (addition, base9_addition, mod_addition, linear;
any format: a rule-following prompt ends with its question); anything else is refused (``SpecError``
naming ``trial``) before anything is written. Writes OUT (default TRIAL/probe/): probe.json, probe.md
and the figures (``caseray.trial.probe_figures``)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from caseray.core.atomic import write_text_atomic
from caseray.core.errors import SpecError
from caseray.core.progress import progress
from caseray.data.datasets import load_dataset
from caseray.data.tasks import build_task
from caseray.data.tokenizers import load_tokenizer
from caseray.train.attention import custom_attention
from caseray.train.batches import list_values, make_batchable
from caseray.train.models import load_trained
from caseray.trial import probe_figures, probe_stats, probe_summary
from caseray.trial.cells import greedy_outputs
from caseray.trial.rescore import saved_trial
from caseray.trial.spec import TrialSpec

DIGITS = re.compile(r"\d+")
PROMPTS = "a grid trial whose prompt ends with a <op> b = (addition, base9_addition, mod_addition, linear)"
BATCH = 256  # cells per forward pass (every layer's states and attentions are kept for the batch)
HOLDOUT = 0.2  # the share of training cells kept out of the probes' fit


def probe_trial(folder: str | Path) -> tuple[Path, TrialSpec]:
    """A finished grid trial with a saved model, and its spec; else ``SpecError`` naming ``trial``."""
    folder, spec = saved_trial(folder)
    if spec.lengths is not None:
        raise SpecError("trial", f"{spec.name} is a length trial (no grid of a, b)", PROMPTS)
    if not (folder / "cells.parquet").is_file():
        raise SpecError("trial", f"no cells.parquet in {folder}: the trial has not finished", "a finished trial")
    return folder, spec


def operand_layout(table: pa.Table, tokenizer, base: int, name: str) -> dict[str, np.ndarray]:
    """Per cell, token positions in [bos] + prompt: ``eq`` (the prompt's last ``=``) and the spans
    [a_start, a_end), [b_start, b_end) of the two numbers right before it, which must read a and b."""
    prefixes = []
    for prompt, a, b in zip(table["prompt"].to_pylist(), table["a"].to_pylist(), table["b"].to_pylist()):
        eq = prompt.rfind("=")
        runs = list(DIGITS.finditer(prompt, 0, max(eq, 0)))[-2:]
        if eq < 0 or len(runs) < 2 or [int(r.group(), base) for r in runs] != [a, b]:
            raise SpecError("trial", f"{name}: the prompt {prompt!r} of cell ({a}, {b}) does not end with a, "
                            "b and '='", PROMPTS)
        prefixes += [prompt[:runs[0].start()], prompt[:runs[0].end()], prompt[:runs[1].start()],
                     prompt[:runs[1].end()], prompt[:eq]]
    _, offsets = tokenizer.encode_many(prefixes)
    at = (np.diff(offsets).reshape(-1, 5) + 1).astype(np.int64)  # + 1: bos
    layout = dict(zip(("a_start", "a_end", "b_start", "b_end", "eq"), at.T))
    check_layout(table, tokenizer, layout, name)
    return layout


def check_layout(table: pa.Table, tokenizer, layout: dict, name: str) -> None:
    """The positions found from prefixes hold what they should among the prompt's own tokens (a
    tokenizer that merged across the boundaries would break this)."""
    values, offsets = list_values(table["prompt_ids"])
    for i, prompt in enumerate(table["prompt"].to_pylist()):
        ids = values[offsets[i]:offsets[i + 1]]
        eq = layout["eq"][i]
        spans = [(layout[f"{k}_start"][i], layout[f"{k}_end"][i]) for k in "ab"] + [(eq, eq + 1)]
        said = [tokenizer.decode(ids[start - 1:end - 1]) for start, end in spans]
        if said != DIGITS.findall(prompt[:prompt.rfind("=")])[-2:] + ["="]:
            raise SpecError("trial", f"{name}: tokenizer {tokenizer.spec!r} does not keep the numbers of {prompt!r} "
                            "apart", PROMPTS)


def answer_starts(table: pa.Table, tokenizer) -> np.ndarray:
    """Per cell, the position of its first answer token in [bos] + prompt + target: the target's
    last line (the answer) starts after its last line-end token."""
    ends = set(tokenizer.line_end_ids())
    prompts = np.diff(list_values(table["prompt_ids"])[1])
    starts = [max((i + 1 for i, t in enumerate(ids) if t in ends), default=0)
              for ids in table["target_ids"].to_pylist()]
    return 1 + prompts + np.asarray(starts, dtype=np.int64)


def attention_rows(attentions, rows, eq, spans) -> tuple[np.ndarray, np.ndarray]:
    """Attention from ``eq`` to each span, summed over its tokens: (batch, layers, heads) twice."""
    import torch

    width = attentions[0].shape[-1]
    out = []
    for start, end in spans:
        keys = ((torch.arange(width)[None] >= start[:, None]) & (torch.arange(width)[None] < end[:, None])).float()
        out.append(torch.stack([(att[rows, :, eq, :].float().cpu() * keys[:, None]).sum(-1) for att in attentions],
                               1).numpy())
    return out[0], out[1]


def forward_batch(model, spec: TrialSpec, data, idx, layout, first, device, attentions: bool) -> dict:
    """One batch's states at ``=`` (batch, layers + 1, D), attention to a and b, margin and argmax at
    the first answer token."""
    import torch

    ids, _, mask = data.take(idx)
    places, spans = data.take_places(idx)
    pos = spec.positions().ids(places, ids.shape, spans=spans)
    with torch.inference_mode():
        out = model(input_ids=ids.to(device), attention_mask=mask.to(device),
                    position_ids=None if pos is None else pos.to(device), output_hidden_states=True,
                    output_attentions=attentions)
    rows, sel = torch.arange(len(idx)), idx.numpy()
    eq, at = torch.from_numpy(layout["eq"][sel]), torch.from_numpy(first[sel])
    logits = out.logits[rows, at - 1].float().cpu()
    right = ids[rows, at]
    best_other = logits.scatter(1, right[:, None], float("-inf")).max(1).values
    result = {"states": torch.stack([h[rows, eq].float().cpu() for h in out.hidden_states], 1).numpy(),
              "margin": (logits[rows, right] - best_other).numpy(), "argmax": logits.argmax(1).numpy()}
    if attentions:
        result["to_a"], result["to_b"] = attention_rows(
            out.attentions, rows, eq, [(torch.from_numpy(layout[f"{k}_start"][sel]),
                                        torch.from_numpy(layout[f"{k}_end"][sel])) for k in "ab"])
    return result


def forward_all(model, spec: TrialSpec, table: pa.Table, tokenizer, layout, device, attentions: bool) -> dict:
    """``forward_batch`` over every cell, concatenated."""
    import torch

    positions = spec.positions()
    data = make_batchable(table, tokenizer.bos_id, tokenizer.pad_id, places=positions.coupled, rule=positions.rule)
    first = answer_starts(table, tokenizer)
    parts = [forward_batch(model, spec, data, torch.arange(i, min(len(data), i + BATCH)), layout, first, device,
                           attentions)
             for i in progress(range(0, len(data), BATCH), "probing", unit="batch")]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def number_rows(model, tokenizer, task) -> tuple[np.ndarray | None, str | None]:
    """The input-embedding rows of the numbers low..high (as the task writes them) in order; or None
    and why, where some number is not one token."""
    numbers = range(task.low, task.high + 1)
    ids = [tokenizer.encode(task.num(n)) for n in numbers]
    split = [n for n, t in zip(numbers, ids) if len(t) != 1]
    if split:
        return None, (f"tokenizer {tokenizer.spec!r} writes {task.num(split[0])!r} as {len(ids[split[0] - task.low])} "
                      f"tokens ({len(split)} of the numbers {task.low}..{task.high} are not one token): the embedding "
                      "geometry needs one token per number (tokenizer: number)")
    weight = model.get_input_embeddings().weight.detach().float().cpu().numpy()
    return weight[[t[0] for t in ids]], None


def number(text: str | None, base: int) -> float:
    try:
        return float(int(text, base))
    except (TypeError, ValueError):  # no answer, or not a number
        return float("nan")


def failures(spec: TrialSpec, task, table: pa.Table, cells: pa.Table, model, tokenizer, device,
             margin: np.ndarray) -> dict:
    """The failed cells (greedy exact match false): what they said, the numeric error and the margin
    at the first answer token; correlations with |d| and s; and the margins of every test cell."""
    where = {(a, b): i for i, (a, b) in enumerate(zip(cells["a"].to_pylist(), cells["b"].to_pylist()))}
    at = np.array([where.get(k, -1) for k in zip(table["a"].to_pylist(), table["b"].to_pylist())])
    greedy = cells["greedy_correct"].to_numpy(zero_copy_only=False)
    wrong = np.flatnonzero((at >= 0) & ~greedy[np.maximum(at, 0)])
    if "output" in cells.column_names:
        said = cells["output"].to_pylist()
        texts = [said[at[i]] for i in wrong]
    else:  # a trial evaluated before outputs were kept: decode its failures again
        texts = greedy_outputs(spec, model, table.take(pa.array(wrong, pa.int64())), tokenizer, device,
                               np.zeros(len(wrong), bool))[1]
    fmt, a, b = spec.answer_format(), table["a"].to_numpy(), table["b"].to_numpy()
    said = np.array([number(fmt.read_answer(t or ""), task.base) for t in texts], dtype=float)
    error = said - np.array([number(x, task.base) for x in table["answer"].to_numpy(zero_copy_only=False)[wrong]])
    split = table["split"].to_numpy(zero_copy_only=False)
    test = split == "test"
    return {"count": int(len(wrong)), "test_count": int(test[wrong].sum()),
            "correlations": probe_stats.failure_correlations(a[wrong], b[wrong], error, margin[wrong]),
            "test_margin": {t: probe_stats.correlation(margin[test], v[test])
                            for t, v in probe_stats.targets(a, b).items() if t != "d"},
            "test_cells": {"a": a[test].tolist(), "b": b[test].tolist(), "margin": margin[test].tolist()},
            "cells": [{"a": int(a[i]), "b": int(b[i]), "split": str(split[i]), "output": t,
                       "prediction": p, "error": e, "margin": float(margin[i])}
                      for i, t, p, e in zip(wrong, texts, said.tolist(), error.tolist())]}


def probe_sets(split: np.ndarray, seed: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The probes' fit cells (80% of the training cells, seeded) and the sets they are scored on."""
    train = np.flatnonzero(split == "train")
    held = np.zeros(len(split), dtype=bool)
    held[np.random.default_rng(seed).choice(train, int(round(HOLDOUT * len(train))), replace=False)] = True
    return (split == "train") & ~held, {"test": split == "test", "train_holdout": held}


def measure(spec: TrialSpec, folder: Path, alpha: float, device) -> dict:
    """Every number ``probe.json`` holds."""
    tokenizer, task = load_tokenizer(folder / "tokenizer"), build_task(spec.task)
    table = load_dataset(spec.data_spec(), tokenizer=tokenizer)
    layout = operand_layout(table, tokenizer, task.base, spec.name)  # (refuses a prompt it cannot read)
    model = load_trained(spec.model, folder / "model").eval().to(device)
    plain = not custom_attention(model)  # (caseray's attention functions compute no weights to return)
    if plain:
        model.set_attn_implementation("eager")
    seen = forward_all(model, spec, table, tokenizer, layout, device, plain)
    a, b, split = table["a"].to_numpy(), table["b"].to_numpy(), table["split"].to_numpy(zero_copy_only=False)
    fit, sets = probe_sets(split)
    rows, why = number_rows(model, tokenizer, task)
    return {"trial": spec.name, "label": spec.label, "folder": str(folder.resolve()), "cells": int(len(a)),
            "layers": ["embeddings"] + [f"layer {i}" for i in range(1, seen["states"].shape[1])],
            "embedding": probe_stats.embedding_geometry(rows, task.low) if rows is not None else {"skipped": why},
            "probes": {"alpha": alpha, "fit_cells": int(fit.sum()),
                       "set_cells": {k: int(v.sum()) for k, v in sets.items()},
                       **probe_stats.layer_probes(seen["states"], a, b, fit, sets, alpha)},
            "attention": (probe_stats.attention_by_sum(a, b, seen["to_a"], seen["to_b"]) if plain else
                          {"skipped": f"{spec.model.attention} attention returns no attention weights"}),
            "failures": failures(spec, task, table, pq.read_table(folder / "cells.parquet"), model, tokenizer, device,
                                 seen["margin"])}


def run_probe(folder: str | Path, out: str | Path | None = None, alpha: float = probe_stats.RIDGE,
              device: str = "cpu") -> tuple[Path, dict]:
    """Measure the trial's saved model and write OUT (default TRIAL/probe/): probe.json, the figures,
    probe.md. A bad trial is refused before anything is written."""
    import torch

    folder, spec = probe_trial(folder)
    result = measure(spec, folder, alpha, torch.device(device))
    out = Path(out) if out is not None else folder / "probe"
    out.mkdir(parents=True, exist_ok=True)
    figures = probe_figures.draw(result, out)
    write_text_atomic(out / "probe.json", json.dumps(result, indent=1))
    write_text_atomic(out / "probe.md", probe_summary.markdown(result, figures))
    return out, result
