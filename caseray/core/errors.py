"""One error type for bad input: it names the offending field and what is allowed. Its text never
holds a credential (``caseray.core.redact``): bad input is echoed, and URIs may carry keys."""

from __future__ import annotations

from caseray.core.redact import redact


class SpecError(ValueError):
    """A spec field holds a bad value. `field` is a dotted path such as ``split.half_width``."""

    def __init__(self, field: str, message: str, allowed=None):
        self.field = field
        self.message = message
        self.allowed = allowed
        shown = field if field.isprintable() else repr(field)  # a key typed with a newline or a control character
        text = f"{shown}: {message}"
        if allowed is not None:
            if not isinstance(allowed, str):
                allowed = ", ".join(str(x) for x in allowed)
            text += f" (allowed: {allowed})"
        super().__init__(redact(text))

    def under(self, prefix: str) -> "SpecError":
        """The same error with its field path prefixed (``half_width`` -> ``split.half_width``)."""
        return SpecError(f"{prefix}.{self.field}" if prefix else self.field, self.message, self.allowed)


def causes(err: BaseException | None):
    """``err`` and the exceptions it was raised from or while handling, each once."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__


def did_you_mean(name, names) -> str:
    """`` (did you mean 'half_width'?)`` when ``name`` is close to one of ``names``; else ""."""
    import difflib

    close = difflib.get_close_matches(str(name), [str(n) for n in names], n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


class WriteFailed(RuntimeError):
    """The machine refused a write mid-run (disk full, permission lost, read-only file system): not bad
    input, so not a ``SpecError``; the command line prints it as one line and exits ``EXIT_CODE``."""

    EXIT_CODE = 74  # sysexits.h EX_IOERR

    def __init__(self, path, what: str, reason: str):
        self.path, self.what, self.reason = str(path), what, reason
        super().__init__(redact(f"could not write {path} ({what}): {reason}"))
