"""Token tables -> padded tensors: ``[bos] + prompt + target`` with labels on the target only."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch

from caseray.data.places import PLACE_RULES, start_places

IGNORE = -100


@dataclass
class Batchable:
    """Right-padded sequences of a set of rows, ready to slice into batches."""

    input_ids: torch.Tensor  # (N, L) long
    labels: torch.Tensor  # (N, L) long, IGNORE outside the target
    attention_mask: torch.Tensor  # (N, L) long
    lengths: torch.Tensor  # (N,) true lengths
    prompt_lengths: torch.Tensor  # (N,) 1 + len(prompt): where the target starts
    places: torch.Tensor | None = None  # (N, L) long digit places (coupled positions), else None
    spans: torch.Tensor | None = None  # (N,) the places a row's answer can reach: longest operand + 1

    def take(self, idx) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Rows ``idx``, trimmed to their longest sequence."""
        width = int(self.lengths[idx].max())
        return self.input_ids[idx, :width], self.labels[idx, :width], self.attention_mask[idx, :width]

    def take_places(self, idx) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Rows ``idx``'s digit places (trimmed like ``take``) and spans; (None, None) without places."""
        if self.places is None:
            return None, None
        return self.places[idx, :int(self.lengths[idx].max())], self.spans[idx]

    def __len__(self) -> int:
        return len(self.lengths)


def list_values(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    arr = column.combine_chunks()
    offsets = arr.offsets.to_numpy()
    return arr.values.to_numpy()[offsets[0]:offsets[-1]], offsets - offsets[0]


def longest_row(*tables: pa.Table) -> int:
    """The longest ``[bos] + prompt + target`` of the tables' rows (1 for no rows), without padding them."""
    lengths = [pc.add(pc.list_value_length(t["prompt_ids"]), pc.list_value_length(t["target_ids"]))
               for t in tables if t.num_rows]
    return 1 + max((pc.max(n).as_py() for n in lengths), default=0)


def row_places(table: pa.Table, width: int, rule: str = "answer") -> tuple[torch.Tensor, torch.Tensor]:
    """Digit places of ``[bos] + prompt + target + [eos]`` per row (one token per character; bos 0 unless
    the rule marks it) by the format's place ``rule`` (``caseray.data.places``: a reversed answer's
    digits counted from its left; a column trace's by line and role); and each row's span (the places
    its answer can reach)."""
    placer = PLACE_RULES[rule]
    out = np.zeros((table.num_rows, width), dtype=np.int64)
    spans = np.zeros(table.num_rows, dtype=np.int64)
    for i, (prompt, target) in enumerate(zip(table["prompt"].to_pylist(), table["target"].to_pylist())):
        places = start_places(placer, prompt) + placer.target(target)
        out[i, :len(places)] = places
        spans[i] = placer.span(prompt)
    return torch.from_numpy(out), torch.from_numpy(spans)


def make_batchable(table: pa.Table, bos_id: int, pad_id: int, places: bool = False,
                   rule: str = "answer") -> Batchable:
    p_vals, p_off = list_values(table.column("prompt_ids"))
    t_vals, t_off = list_values(table.column("target_ids"))
    n = table.num_rows
    p_len, t_len = np.diff(p_off), np.diff(t_off)
    lengths = 1 + p_len + t_len
    width = int(lengths.max()) if n else 1
    ids = np.full((n, width), pad_id, dtype=np.int64)
    labels = np.full((n, width), IGNORE, dtype=np.int64)
    ids[:, 0] = bos_id
    # scatter prompt and target tokens with one fancy-index each
    rows = np.repeat(np.arange(n), p_len)
    cols = 1 + np.arange(len(p_vals)) - np.repeat(p_off[:-1], p_len)
    ids[rows, cols] = p_vals
    rows = np.repeat(np.arange(n), t_len)
    cols = np.repeat(1 + p_len, t_len) + np.arange(len(t_vals)) - np.repeat(t_off[:-1], t_len)
    ids[rows, cols] = t_vals
    labels[rows, cols] = t_vals
    mask = (np.arange(width)[None, :] < lengths[:, None]).astype(np.int64)
    return Batchable(torch.from_numpy(ids), torch.from_numpy(labels), torch.from_numpy(mask),
                     torch.from_numpy(lengths.astype(np.int64)), torch.from_numpy((1 + p_len).astype(np.int64)),
                     *(row_places(table, width, rule) if places else (None, None)))


def shifted_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over the labelled (target) positions."""
    return torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten(),
                                             ignore_index=IGNORE)
