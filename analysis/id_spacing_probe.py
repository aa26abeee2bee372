"""Diagnostic (outside the product's own evaluation): a saved coupled-id model (direct, reversed
answers, digit tokens) scored on fresh mixed-length additions whose digit places get *other* id maps
than the ones it was tested with -- to tell whether long problems fail for their number of places or
for how close their ids come.

    python analysis/id_spacing_probe.py RUN/model even,gap1,gap2,random 5,10,20,30

Id maps (place 1..span -> id): ``even`` (the spread kinds' test ids over 1..63), ``gapG`` (place * G,
rounded; may pass 63), ``random`` (a sorted random subset of 1..63, as ``coupled_random`` trains),
``randR`` (a sorted random subset of 1..R). Exact = argmax right at every answer token (teacher-forced
greedy); 40 problems per length, the other operand 1..n digits, either side.
"""
import random
import sys

import torch
from transformers import AutoModelForCausalLM

from caseray.data.places import digit_places
from caseray.data.tokenizers import build_tokenizer

PROBLEMS = 40


def problems(rng: random.Random, n: int) -> list[tuple[int, int]]:
    out = []
    for _ in range(PROBLEMS):
        m = rng.randint(1, n)
        a, b = rng.randrange(10 ** (n - 1), 10 ** n), rng.randrange(10 ** (m - 1) if m > 1 else 0, 10 ** m)
        out.append((a, b) if rng.random() < 0.5 else (b, a))
    return out


def id_map(span: int, how: str, generator: torch.Generator) -> list[int]:
    if how == "even":
        return [0] + [(p * 63 + (span + 1) // 2) // (span + 1) for p in range(1, span + 1)]
    if how.startswith("gap"):
        return [0] + [round(p * float(how[3:])) for p in range(1, span + 1)]
    if how.startswith("rand"):
        top = 63 if how == "random" else int(how[4:])
        if span > top:
            raise SystemExit(f"{how}: {span} places do not fit in 1..{top}")
        return [0] + (torch.randperm(top, generator=generator)[:span].sort().values + 1).tolist()
    raise SystemExit(f"unknown id map {how!r} (allowed: even, gapG, random, randR)")


@torch.inference_mode()
def exact(model, tokenizer, n: int, how: str) -> float:
    rng, generator, right = random.Random(12345 + n), torch.Generator().manual_seed(n), 0
    for a, b in problems(rng, n):
        prompt, target = f"{a}+{b}=", str(a + b)[::-1]
        ids_of = id_map(max(digit_places(prompt)) + 1, how, generator)
        places = [0] + digit_places(prompt) + digit_places(target, True) + [0]
        tokens = tokenizer.encode(prompt) + tokenizer.encode(target)
        ids = torch.tensor([[tokenizer.bos_id] + tokens + [tokenizer.eos_id]])
        logits = model(input_ids=ids, position_ids=torch.tensor([[ids_of[p] for p in places]])).logits[0]
        start = 1 + len(prompt)
        right += bool((logits[start - 1:-1].argmax(-1) == ids[0, start:]).all())
    return right / PROBLEMS


def main() -> None:
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    model = AutoModelForCausalLM.from_pretrained(sys.argv[1], local_files_only=True, use_safetensors=True).eval()
    tokenizer = build_tokenizer("digit")
    maps = sys.argv[2].split(",")
    print("digits " + " ".join(f"{h:>8}" for h in maps))
    for n in map(int, sys.argv[3].split(",")):
        print(f"{n:>6} " + " ".join(f"{exact(model, tokenizer, n, h):8.2f}" for h in maps), flush=True)


if __name__ == "__main__":
    main()
