"""Position schemes (``ModelSpec.positions``), all passed to the Hugging Face model as ``position_ids``
-- saved models stay plain transformers checkpoints:

- ``learned``: GPT-2's learned absolute table indexed 0, 1, 2, ... (GPT-2 scales' default);
- ``rope``: Llama's rotary positions 0, 1, 2, ... (Llama scales' default);
- ``nope``: no position information: every id is 0 (GPT-2: one shared vector; Llama: no rotation);
- ``coupled``: position coupling (Cho et al., 2024): a token's id is its digit place
  (``caseray.data.places``; 0 for non-digits), so digits of the same significance share an id. While
  training every row's ids shift by a random offset (uniform over 0..``max_offset``, drawn from the
  (seed, step) of its batch) so that every id of the table is trained; at test the offset is 0.
- ``coupled_random``: coupled ids at randomized spacing (coupling + the randomized positions of Ruoss
  et al., 2023): a training row's places 1..m (m: its longest operand's digits + 1) map to a sorted
  random subset of 1..``ids`` - 1 (``ModelSpec.coupled_ids``, default ``COUPLED_IDS``), so every
  distance between ids -- not only those a short number spans -- is trained; at test they map to ids
  spread evenly over the same range (a pure function of the prompt, so a decoder knows each new
  digit's id).
- ``coupled_scales``: ``coupled_random`` at every scale of spacing: a training row's places map to a
  sorted random subset of a window of ids whose width is drawn log-uniformly between the row's span
  and the whole range (placed at a random offset), so dense rows (neighbouring places 1-2 ids apart,
  what a long test number's evenly spread ids are) are trained as often as sparse ones; at test as
  ``coupled_random``.

Measured (docs/FINDINGS.md): with offsets alone, ids a short number never spans at once stay
untrained as distances and accuracy falls one digit past the training lengths; randomized spacing
carries RoPE to 4x the training length, and falls where a test's neighbouring places come closer
than 2 ids (a subset of the whole range rarely puts every place of a row 1-2 ids apart).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from caseray.data.places import PLACE_RULES

if TYPE_CHECKING:
    import torch

POSITIONS = ("learned", "rope", "nope", "coupled", "coupled_random", "coupled_scales")
COUPLED = ("coupled", "coupled_random", "coupled_scales")
SPREAD = ("coupled_random", "coupled_scales")  # test ids spread evenly over the range
FAMILY_DEFAULT = {"gpt2": "learned", "llama": "rope"}
COUPLED_IDS = 64  # coupled ids in use by default: 0..63 (places up to 63 at test)


@dataclass(frozen=True)
class Positions:
    kind: str = "learned"
    max_offset: int = 0  # coupled, training only
    id_range: int = COUPLED_IDS  # coupled: places 0..id_range - 1 (0: not a digit)
    rule: str = "answer"  # how the text's characters get places (caseray.data.places.PLACE_RULES)

    @property
    def levels(self) -> int:
        """Roles per place (``ColumnPlaces``): a coded place is place * levels + role, its id
        spread(place) * levels + role; 1 for every other rule (an id is the place's own)."""
        return PLACE_RULES[self.rule].levels

    @property
    def explicit(self) -> bool:
        """Whether the model is handed ids (else it numbers tokens 0, 1, 2, ... itself)."""
        return self.kind in ("nope",) + COUPLED

    @property
    def coupled(self) -> bool:
        return self.kind in COUPLED

    def ids(self, places: torch.Tensor | None, shape, generator: torch.Generator | None = None,
            spans: torch.Tensor | None = None):
        """``position_ids`` for a batch of ``shape``: None (the model's own), zeros, or from the rows'
        ``places`` -- randomized when a training ``generator`` is given. ``spans``: per row, the places
        its answer can reach (its longest operand's digits + 1; spread kinds only)."""
        import torch  # (here: specs that name a scheme are read without torch)

        if self.kind == "nope":
            return torch.zeros(shape, dtype=torch.long)
        if not self.coupled:
            return None
        if places is None:
            raise ValueError("coupled positions need the rows' digit places")
        places, roles = places // self.levels, places % self.levels
        if self.kind in SPREAD:
            ids = spread_ids(places, spans, generator, self.id_range, self.kind == "coupled_scales")
        elif generator is None or self.max_offset == 0:
            ids = places
        else:
            ids = places + torch.randint(0, self.max_offset + 1, (places.shape[0], 1), generator=generator)
        return ids * self.levels + roles if self.levels > 1 else ids

    def place_id(self, place, span):
        """The id of one (coded) place at test (a decoder's new token): tensors or ints."""
        place, role = place // self.levels, place % self.levels
        ids = evenly_spread(place, span, self.id_range) if self.kind in SPREAD else place
        return ids * self.levels + role if self.levels > 1 else ids


def evenly_spread(place, span, ids: int = COUPLED_IDS):
    """Test ids of the spread kinds (``SPREAD``): places 1..span spread evenly over 1..ids - 1; 0 stays 0."""
    return (place * (ids - 1) + (span + 1) // 2) // (span + 1) * (place > 0)


def spread_ids(places: torch.Tensor, spans: torch.Tensor, generator: torch.Generator | None,
               ids: int = COUPLED_IDS, scales: bool = False) -> torch.Tensor:
    """Each row's places mapped to ids: a sorted random subset of 1..ids - 1 of its span's size
    (training; ``scales``: of a window of log-uniform width at a random offset), or evenly spread
    ones (test)."""
    import torch

    if generator is None:
        return evenly_spread(places, spans[:, None], ids)
    table = torch.zeros((places.shape[0], ids), dtype=torch.long)
    for i, span in enumerate(spans.tolist()):
        width, start = ids - 1, 0
        if scales and span < ids - 1:
            low, high = torch.tensor([float(span), float(ids - 1)]).log().tolist()
            width = min(ids - 1, int(torch.empty(()).uniform_(low, high, generator=generator).exp().round()))
            start = int(torch.randint(0, ids - width, (), generator=generator))
        table[i, 1:span + 1] = torch.randperm(width, generator=generator)[:span].sort().values + 1 + start
    return table.gather(1, places.clamp(max=ids - 1))


def batch_generator(seed: int, step: int) -> torch.Generator:
    """The generator of batch ``step``'s position offsets: a pure function of (seed, step), so a
    resumed run draws what an uninterrupted one would. (Until 2026-12-04 it was seeded with
    ``(seed << 32) + step``, and a CPU generator keeps only the low 32 bits of its seed: every seed drew
    seed 0's offsets and spacings. Seed 0's draws are unchanged; as the loop's shuffle, seeds are now
    1,000,003 steps apart.)"""
    import torch

    return torch.Generator().manual_seed(seed * 1_000_003 + step)
