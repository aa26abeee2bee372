"""A folder that ships code of its own (``auto_map`` and a ``.py`` file) is never run: the command line
refuses it with exit 2 before transformers sees it, never prompts, and the loaders underneath are told
``trust_remote_code=False`` (tried here with the checks bypassed, ``y`` on stdin)."""

import json
import subprocess
import sys

import pytest

from caseray.core.errors import SpecError
from helpers import save_tiny_checkpoint


@pytest.fixture
def code_folder(tmp_path):
    """A tiny checkpoint + tokenizer whose configs point transformers at ``evil.py`` (which leaves a
    marker file if it is ever imported) and name no class transformers ships, so that transformers
    would have to run it: asked without ``trust_remote_code=False``, it prompts and a ``y`` runs it."""
    folder, marker = tmp_path / "evil", tmp_path / "CODE_RAN"
    save_tiny_checkpoint(folder)
    (folder / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n"
                                    "from transformers import GPT2Config as EvilConfig\n")
    for name, auto_map in (("tokenizer_config.json", {"AutoTokenizer": ["evil.EvilTokenizer", "evil.EvilTokenizer"]}),
                           ("config.json", {"AutoConfig": "evil.EvilConfig",
                                            "AutoModelForCausalLM": "evil.EvilModel"})):
        config = {k: v for k, v in json.loads((folder / name).read_text()).items() if k != "tokenizer_class"}
        if "model_type" in config:
            config["model_type"] = "evil"
        (folder / name).write_text(json.dumps({**config, "auto_map": auto_map}))
    return folder, marker


@pytest.mark.parametrize("argv", [
    ["data", "show", "--tokenizer", "hf:{dir}"],
    ["trial", "--set", "model.scale=path:{dir}", "--set", "tokenizer=hf:{dir}", "--set", "train.steps=1"],
    ["trial", "--set", "tokenizer=hf:{dir}", "--set", "train.steps=1"],
], ids=["data-show", "trial-checkpoint", "trial-tokenizer"])
def test_the_command_line_refuses_a_folder_with_code(code_folder, tmp_path, argv):
    folder, marker = code_folder
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.run([sys.executable, "-m", "caseray.cli", *[a.format(dir=folder) for a in argv]], cwd=work,
                          input="y\ny\ny\n", capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "names code of its own (auto_map)" in proc.stderr
    assert "Traceback" not in proc.stderr and "[y/N]" not in proc.stdout + proc.stderr  # no prompt
    assert not marker.exists()
    assert list(work.rglob("*")) == []


def test_the_loaders_never_run_a_folders_code(code_folder, monkeypatch):
    """Below the checks, in the library: transformers is asked with trust_remote_code=False."""
    import io

    from caseray.data.tokenizers import HFTokenizer
    from caseray.train.models import load_checkpoint

    folder, marker = code_folder
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n" * 10))
    for load in (HFTokenizer, load_checkpoint):
        try:
            load(str(folder))
        except SpecError as err:  # refused: transformers would need the folder's code
            assert "trust_remote_code" in str(err) or "custom code" in str(err) or "cannot load" in str(err)
    assert not marker.exists()
