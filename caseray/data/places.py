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


def start_places(rule, prompt: str) -> list[int]:
    """The places of ``[bos] + prompt`` by ``rule`` (one of ``PLACE_RULES``): what a training row and the
    decoder's prompt both begin with."""
    return [rule.bos_place(prompt)] + rule.prompt(prompt)


def prompt_span(prompt: str) -> int:
    """The places an answer to ``prompt`` can reach: its longest number's digits + 1 (a final carry)."""
    return max(digit_places(prompt), default=0) + 1


class AnswerPlaces:
    """The places of a direct answer written least-significant first: the prompt's numbers counted
    from their right, the answer's digits from its left (``digit_places``). One level: a place is its id."""

    name = "answer"
    levels = 1
    extra_places = 0  # places an output reaches past its answer's digits

    def prompt(self, prompt: str) -> list[int]:
        return digit_places(prompt)

    def target(self, target: str) -> list[int]:
        return digit_places(target, from_left=True)

    def span(self, prompt: str) -> int:
        return prompt_span(prompt) + self.extra_places

    def bos_place(self, prompt: str) -> int:
        """The place of the row's bos token: none (0)."""
        return 0


class CarryPlaces(AnswerPlaces):
    """The places of a reversed answer with carries (``format_options.carries``: the units' digit, then
    a (carry in, digit) pair per place): a pair takes its place, the place of the operands' digits it is
    made of, and so does the prompt's last ``=``, which opens the units (it predicts their digit). One
    level, as ``AnswerPlaces``."""

    name = "carries"

    def prompt(self, prompt: str) -> list[int]:
        places = digit_places(prompt)
        if prompt.endswith("="):
            places[-1] = 1
        return places

    def target(self, target: str) -> list[int]:
        pairs = Pairs()
        return [pairs.feed(ch) for ch in target]


class Pairs:
    """A carries answer read one character at a time (``CarryPlaces``): the units' digit is place 1,
    then digits 2n and 2n + 1 (a carry and its digit) place n + 1; other characters 0."""

    def __init__(self):
        self.digits = 0

    def feed(self, ch: str) -> int:
        if not ch.isdigit():
            return 0
        self.digits += 1
        return self.digits // 2 + 1


# roles of a column trace's digits (a coded place is place * COLUMN_LEVELS + role)
A_DIGIT, B_DIGIT, CARRY, DIGIT = 1, 2, 3, 4
COLUMN_LEVELS = 5


class ColumnPlaces:
    """Two-level places of a column trace (``rule_following_columns``): every digit of the trace's
    line n belongs to column n, and a role tells which of its quantities it is -- the first operand's
    digit, the second's, the carry into the column, the column's digit; the line's other characters
    take role 0 (multi-level coupling, Cho et al., 2024). A digit's coded place is
    ``place * COLUMN_LEVELS + role``; the prompt's operands are counted from their right like any
    number, the answer line (``=`` then the digits units first) from its left, with the role of a
    column's digit. Every coded place is known when its character is written (``Column.feed``), so a
    decoder gives a new token its id as it goes."""

    name = "columns"
    levels = COLUMN_LEVELS
    extra_places = 1  # the last line's total names the carry into a column past the answer, always 0

    def prompt(self, prompt: str) -> list[int]:
        runs, out, previous = 0, [], False
        places = digit_places(prompt)
        for ch, place in zip(prompt, places):
            runs += ch.isdigit() and not previous
            previous = ch.isdigit()
            out.append(place * COLUMN_LEVELS + (A_DIGIT if runs == 1 else B_DIGIT) if place else 0)
        return out

    def target(self, target: str) -> list[int]:
        column = Column()
        return [column.feed(ch) for ch in target]

    def span(self, prompt: str) -> int:
        """The places a trace reaches: the answer's and ``extra_places``."""
        return prompt_span(prompt) + self.extra_places

    def bos_place(self, prompt: str) -> int:
        return 0


class Column:
    """A column trace read one character at a time. A step line ``p+q+c=tu`` holds the column's two
    operand digits, its carry in and its total as two digits: ``t`` is the carry into the next column,
    ``u`` the column's digit. The answer line starts with ``=``."""

    SLOTS = ((0, A_DIGIT), (0, B_DIGIT), (0, CARRY), (1, CARRY), (0, DIGIT))  # (column shift, role) per digit

    def __init__(self):
        self.line, self.slot, self.answer, self.at_start = 1, 0, 0, True

    def feed(self, ch: str) -> int:
        """The coded place of the next character ``ch``. A step line's other characters (``+``, ``=``,
        its newline) take its column with role 0: a token knows its column from its own id (coupled
        ids give every non-digit id 0, and RoPE then cannot tell which column a ``+`` is in)."""
        start, self.at_start = self.at_start, False
        if ch == "=" and start:
            self.answer = max(self.answer, 1)  # the answer line: digits counted from its left
            return 0
        if not ch.isdigit():
            if self.answer:
                return 0
            line = self.line
            if ch == "\n":
                self.line, self.slot, self.at_start = self.line + 1, 0, True
            return line * COLUMN_LEVELS
        if self.answer:
            self.answer += 1
            return (self.answer - 1) * COLUMN_LEVELS + DIGIT
        shift, role = self.SLOTS[min(self.slot, len(self.SLOTS) - 1)]
        self.slot += 1
        return (self.line + shift) * COLUMN_LEVELS + role


class EndsMarked:
    """A rule that marks where a sum ends (``model.mark_ends``): the prompt's operator (every non-digit
    between two digits: the ``+`` of ``59+13=``) takes the place of the longest operand's top digit,
    and the bos token the place past it (a final carry's). The answer's last places then find at their
    own ids that they are the last -- as every other lookup of the carries answer is made at its own
    id -- instead of looking for the absence of a next place. The rest is ``base``'s."""

    def __init__(self, base):
        self.base, self.name = base, f"{base.name}{MARKED}"
        self.levels, self.extra_places = base.levels, base.extra_places

    def prompt(self, prompt: str) -> list[int]:
        places, digits = self.base.prompt(prompt), digit_places(prompt)
        inside = [i for i, ch in enumerate(prompt) if ch.isdigit()]
        top = max(digits, default=0)
        return [top if inside and inside[0] < i < inside[-1] and not prompt[i].isdigit() else p
                for i, p in enumerate(places)]

    def target(self, target: str) -> list[int]:
        return self.base.target(target)

    def span(self, prompt: str) -> int:
        return self.base.span(prompt)

    def bos_place(self, prompt: str) -> int:
        return prompt_span(prompt)


MARKED = "+ends"  # a marked rule's name: its base's and this
MARKABLE = ("answer", "carries")  # rules whose prompt is two numbers around an operator
PLACE_RULES = {rule.name: rule for rule in (AnswerPlaces(), ColumnPlaces(), CarryPlaces())}
PLACE_RULES.update({f"{name}{MARKED}": EndsMarked(PLACE_RULES[name]) for name in MARKABLE})
READERS = {"columns": Column, "carries": Pairs, f"carries{MARKED}": Pairs}  # places read one character at a time
