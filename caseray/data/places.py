"""Digit places: per character, the significance of a digit within its number (units = 1), 0 for
every other character -- what coupled position ids are made of (Cho et al., 2024: digits of the same
significance share a position id).

A prompt's numbers are written most-significant first, so their places count from the right of each
run of digits; a reversed answer is written least-significant first, so its places count from the
left -- which makes them known as each digit is written (a decoder can give a new token its place
before the rest of the answer exists).
"""

from __future__ import annotations


def digit_places(text: str, from_left: bool = False) -> list[int]:
    """One place per character of ``text``: each run of digits numbered 1.. from its right end
    (``from_left``: from its left end); 0 for non-digits."""
    places, run = [0] * len(text), []
    for i, ch in enumerate(text + " "):
        if ch.isdigit() and i < len(text):
            run.append(i)
            continue
        for k, j in enumerate(run):
            places[j] = k + 1 if from_left else len(run) - k
        run = []
    return places


def next_place(previous, is_digit):
    """The place of a newly written character of a reversed answer, given the place of the one before
    it (``digit_places(..., from_left=True)`` one character at a time); ints or tensors alike."""
    return (previous + 1) * is_digit


def prompt_span(prompt: str) -> int:
    """The places an answer to ``prompt`` can reach: its longest number's digits + 1 (a final carry)."""
    return max(digit_places(prompt), default=0) + 1
