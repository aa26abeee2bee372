"""Direct: ``59+13=`` -> ``72``. No steps; the answer is the only line."""

from caseray.data.formats.base import FORMATS, Format


class Direct(Format):
    name = "direct"
    tasks = ("addition", "base9_addition", "mod_addition", "linear", "chicken_rabbit", "difference")

    def solve(self, task, a, b, fault=None):
        return [], task.answer(a, b)


FORMATS.register("direct")(Direct())
