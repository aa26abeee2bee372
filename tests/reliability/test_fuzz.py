"""Fuzzed input through the real entry points (in process): ``caseray trial --dry-run``, the sweep
launchers' ``main`` with ``--dry-run``, ``caseray sweep run FILE --dry-run`` on mutated sweep files,
and ``caseray data show``. Every input must end in exit 0, or exit 2 with a message naming a field --
never a traceback, never exit 1 -- and nothing may be written (a dry run writes nothing either): not
in the working directory, not in HOME, not in TMPDIR (each an empty folder of its own, watched).

Seeded (``derandomize``): the same 2,000+ inputs in every CI run. ``CASERAY_FUZZ_TALLY=FILE`` makes
the tests record each input that raised instead of failing on the first (how the closing note counts
tracebacks before and after a fix): ``CASERAY_FUZZ_TALLY=/tmp/t.jsonl pytest tests/reliability/test_fuzz.py``;
refused where ``CI`` is set (.ci/run sets it), where a problem must fail the run.
"""

import contextlib
import io
import json
import os
import re
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caseray.cli.main import main
from caseray.cli.sweep import launch_code
from caseray.core.specs import flatten, to_dict
from caseray.data.datasets import LengthSpec
from caseray.data.formats.options import FormatOptions
from caseray.lema.spec import LemaSpec
from caseray.presets import SWEEPS, preset, presets
from caseray.train.models import LoraSpec
from caseray.trial.spec import TrialSpec

pytestmark = pytest.mark.slow  # 520 inputs per test: 5-25 s each
EXAMPLES = 520  # per test; four tests: > 2,000 inputs per run
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))
HEAVY = {("square_grid", "paper"), ("hole_radius", "full"), ("hole_radius", "local")}  # > 250 trials each
SECRET = "FUZZSECRETVALUE"
NAMED = re.compile(r"(caseray: error: [^\s:]+.*:|error: argument \S+|error: the following arguments|"
                   r"error: unrecognized arguments|error: ambiguous option: \S+ could match)")

KEYS = sorted(set(flatten(to_dict(TrialSpec()))) | {
    f"{group}.{k}" for group, spec in (("lengths", LengthSpec()), ("lema", LemaSpec()),
                                       ("format_options", FormatOptions()), ("model.lora", LoraSpec()))
    for k in flatten(to_dict(spec))} | {"split.squares", "split.center", "model.positions", "lengths", "lema"})
ODD_KEYS = ["", ".", "a..b", "seed.x", "train", "model.scale.x", "x" * 300, "ünïcode", "task.name.0", "lengths.x"]


def _bomb() -> str:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        prev, cur = chr(96 + i), chr(97 + i)
        lines.append(f"{cur}: &{cur} [{', '.join([f'*{prev}'] * 9)}]")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def folders():
    """Folders the inputs point at, outside the working directory: a real tiny checkpoint and tokenizer,
    and a tokenizer/model folder that names code of its own which writes a marker if it ever runs."""
    import matplotlib

    from helpers import save_tiny_checkpoint

    # matplotlib makes its config and cache folders under HOME the first time it is imported: found
    # here, before HOME is watched, so that only caseray's own writes count
    matplotlib.get_configdir(), matplotlib.get_cachedir()
    root = Path(tempfile.mkdtemp(prefix="caseray-fuzz-"))
    save_tiny_checkpoint(root / "ckpt")
    code = root / "code"
    save_tiny_checkpoint(code)
    marker = root / "CODE_RAN"
    (code / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    for name in ("tokenizer_config.json", "config.json"):
        config = json.loads((code / name).read_text())
        config["auto_map"] = {"AutoTokenizer": ["evil.EvilTokenizer", None], "AutoConfig": "evil.EvilConfig",
                              "AutoModelForCausalLM": "evil.EvilModel"}
        (code / name).write_text(json.dumps(config))
    work, home, tmp = root / "work", root / "home", root / "tmp"
    for folder in (work, home, tmp):
        folder.mkdir()
    yield {"root": root, "ckpt": root / "ckpt", "code": code, "marker": marker, "work": work, "home": home,
           "tmp": tmp}
    assert not marker.exists(), "code from a data folder ran"


def scalars(folders) -> st.SearchStrategy[str]:
    """Values as they are typed after ``key=``: YAML text, valid and not."""
    words = ["addition", "base9_addition", "mod_addition", "linear", "chicken_rabbit", "direct", "scratchpad",
             "rule_following", "number", "digit", "number:99", "tiny", "llama-tiny", "square", "squares", "random",
             "coupled", "coupled_random", "rope", "learned", "nope", "cpu", "cuda", "auto", "bf16", "cosine"]
    odd = [".nan", ".NaN", ".inf", "-.inf", "1e-3", "1e400", "-1e400", "0x1F", "0o17", "017", "1_000", "yes", "no",
           "on", "~", "", "[0,", "{a", "{a: 1, a: 2}", "&a [1, *a]", "[*a]", _bomb(), "'unterminated", '"\\x00"',
           "²", "٣", "１", "number:²", "number:٣", "number:0", "number:99999999", "digit:3", "hf:", "hf:../..",
           "hf:/etc", "hf:/nonexistent", "path:", "path:/nonexistent", "path:/etc", "path:" + "a" * 5000,
           "hf:" + "a" * 5000, "x" * 10000, f"s3://AKIA:{SECRET}@bucket/x", f"https://u:{SECRET}@127.0.0.1:1/",
           "!!python/object/apply:os.system ['echo hi']", "[1, 2, 3]", "[[1, 2], [3]]", "{}", "[]", "null",
           "true", "false", "2024-01-01", "1:30", "-0", "+5", ".5", "5.", "1e9", "9" * 40, "-" + "9" * 40,
           f"path:{folders['ckpt']}", f"hf:{folders['ckpt']}", f"path:{folders['code']}", f"hf:{folders['code']}",
           "[50, 50]", "[-1, 5]", "[0, 0]", "[1, 5]", "[5, 1]", "[1, 20]", "[1, 100]", "{rank: 0}", "{rank: 4}"]
    numbers = st.one_of(st.integers(-5, 300), st.integers(-(10 ** 30), 10 ** 30),
                        st.floats(allow_nan=True, allow_infinity=True)).map(
        lambda v: yaml.safe_dump(v, default_flow_style=True).replace("\n...\n", "").strip())
    return st.one_of(st.sampled_from(words), st.sampled_from(odd), numbers, st.text(max_size=12),
                     st.lists(st.integers(-3, 60), max_size=3).map(str))


def assignments(folders, max_size=4):
    key = st.one_of(st.sampled_from(KEYS), st.sampled_from(ODD_KEYS), st.text(max_size=8))
    return st.lists(st.tuples(key, scalars(folders)).map(lambda kv: f"{kv[0]}={kv[1]}"), max_size=max_size)


def run_entry(folders, fn, argv, note: str = "") -> None:
    """Run one input in an empty working directory; check its exit code, its message, and that nothing
    was written. With CASERAY_FUZZ_TALLY set, a failing input is recorded instead of failing the test."""
    work = folders["work"]
    out, err = io.StringIO(), io.StringIO()
    # HOME and TMPDIR point at empty folders of their own, watched like the working directory
    watched = {"CASERAY_CACHE": work / "cache", "HOME": folders["home"], "TMPDIR": folders["tmp"]}
    old = {k: os.environ.get(k) for k in watched}
    os.environ.update({k: str(v) for k, v in watched.items()})
    tempfile.tempdir = None  # (tempfile reads TMPDIR again)
    tally = os.environ.get("CASERAY_FUZZ_TALLY")
    if tally and os.environ.get("CI"):
        pytest.fail("CASERAY_FUZZ_TALLY records problems instead of failing on them: not in CI")
    try:
        with contextlib.chdir(work), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = fn(argv)
            except SystemExit as stop:  # argparse's own refusals
                code = stop.code
    except Exception as exc:
        if not tally:
            raise
        code, problem = 1, f"{type(exc).__name__}: {exc}"
    else:
        problem = None
    finally:
        for key, value in old.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)
        tempfile.tempdir = None
        written = [str(p.relative_to(folders["root"])) for f in ("work", "home", "tmp") for p in folders[f].rglob("*")]
        for f in ("work", "home", "tmp"):  # clean up for the next input before asserting
            for p in sorted(folders[f].rglob("*"), reverse=True):
                p.unlink() if p.is_file() or p.is_symlink() else p.rmdir()
    problems = [problem] if problem else []
    if code not in (0, 2):
        problems.append(f"exit {code}: {err.getvalue()[-2000:]}")
    if code == 2 and not NAMED.search(err.getvalue()):
        problems.append(f"exit 2 without naming a field: {err.getvalue()!r}")
    if written:
        problems.append(f"exit {code} wrote {written[:5]}")
    if SECRET in out.getvalue() + err.getvalue():
        problems.append("printed a credential")
    if folders["marker"].exists():
        problems.append("ran code from a data folder")
    if problems and tally:
        with open(tally, "a") as f:
            f.write(json.dumps({"argv": [a[:200] for a in argv], "problems": [p[:300] for p in problems],
                                "input": note[:3000]}) + "\n")
        return
    assert not problems, f"{argv!r}: {problems}\n{note}"


@FUZZ
@given(data=st.data())
def test_fuzzed_trial_specs(folders, data):
    sets = data.draw(assignments(folders))
    argv = ["trial", "--dry-run", "--out", "out"] + [x for s in sets for x in ("--set", s)]
    run_entry(folders, main, argv)


def _light_presets():
    return [(n, p) for n in SWEEPS.names() for p in presets(n) if (n, p) not in HEAVY]


@FUZZ
@given(data=st.data())
def test_fuzzed_sweep_launchers(folders, data):
    name, chosen = data.draw(st.sampled_from(_light_presets()))
    argv = ["--preset", data.draw(st.sampled_from([chosen, chosen, chosen, "nope", ""])), "--dry-run"]
    argv += [x for s in data.draw(assignments(folders, 3)) for x in ("--set", s)]
    argv += [x for s in data.draw(assignments(folders, 2)) for x in ("--axis", s)]
    for flag in ("--storage", "--tracking-uri", "--cpus-per-trial", "--num-cpus"):
        if data.draw(st.booleans()) and data.draw(st.booleans()):
            argv += [flag, data.draw(scalars(folders))]
    run_entry(folders, lambda a: launch_code(name, a), argv)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


def _mutate(data, tree):
    """One random change to a nested mapping: a value replaced, a key deleted, or an unknown key added."""
    paths = [p for p in _paths(tree) if p]
    path = data.draw(st.sampled_from(paths))
    node = tree
    for part in path[:-1]:
        node = node[part]
    how = data.draw(st.sampled_from(["replace", "replace", "delete", "add"]))
    if how == "delete":
        del node[path[-1]]
    elif how == "add" and isinstance(node, dict):
        node[data.draw(st.sampled_from(["extra", "seed", "x" * 200, "axes"]))] = data.draw(st.integers())
    else:
        raw = data.draw(st.sampled_from(["1", ".nan", "-1", "[]", "{}", "null", "true", "abc", "1e99", "[1, [2]]"]))
        node[path[-1]] = yaml.safe_load(raw)


@FUZZ
@given(data=st.data())
def test_fuzzed_sweep_files(folders, data):
    name, chosen = data.draw(st.sampled_from(_light_presets()))
    tree = json.loads(json.dumps(preset(name, chosen)))
    for _ in range(data.draw(st.integers(0, 3))):
        _mutate(data, tree)
    text = yaml.safe_dump(tree, sort_keys=False)
    edit = data.draw(st.sampled_from(["none", "none", "char", "dup", "bomb", "tab"]))
    lines = text.splitlines()
    at = data.draw(st.integers(0, max(0, len(lines) - 1)))
    if edit == "char" and lines:
        line = lines[at]
        i = data.draw(st.integers(0, len(line)))
        char = data.draw(st.sampled_from([":", "[", "{", "&", "*", "!", "'", '"', "%", "\t"]))
        lines[at] = line[:i] + char + line[i:]
    elif edit == "dup" and lines:
        lines.insert(at, lines[at])
    elif edit == "bomb":
        lines = _bomb().splitlines() + lines
    elif edit == "tab" and lines:
        lines[at] = "\t" + lines[at]
    spec = folders["root"] / "sweep.yaml"
    spec.write_text("\n".join(lines) + "\n")
    run_entry(folders, main, ["sweep", "run", str(spec), "--dry-run"], note=spec.read_text())


@FUZZ
@given(data=st.data())
def test_fuzzed_data_show(folders, data):
    flags = {"--task": st.sampled_from(["addition", "linear", "chicken_rabbit", "mod_addition", "nope", ""]),
             "--high": st.integers(-5, 10 ** 7).map(str), "--low": st.integers(-5, 60).map(str),
             "--format": st.sampled_from(["direct", "scratchpad", "rule_following", "x"]),
             "--tokenizer": scalars(folders), "--split": st.sampled_from(["square", "squares", "random", "x"]),
             "--center": st.sampled_from(["10,10", "0,0", "-1,5", "1", "a,b", "99999999999,1"]),
             "--half-width": st.integers(-3, 200).map(str), "--seed": st.integers(-3, 2 ** 40).map(str),
             "--data-size": st.integers(-3, 10 ** 6).map(str), "-n": st.integers(-3, 5).map(str),
             "--digits": st.integers(-2, 40).map(str), "--a": st.integers(-3, 100).map(str),
             "--b": st.integers(-3, 100).map(str), "--test-fraction": st.sampled_from(["0.1", "nan", "-1", "2"])}
    argv = ["data", "show"]
    for flag, values in flags.items():
        if data.draw(st.integers(0, 3)) == 0:
            argv += [flag, data.draw(values)]
    run_entry(folders, main, argv)
