"""The `whisper-gpt` command line: help without the stack (fast), one-line errors, the verb table."""

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from whisper_gpt_hf import cli

# Imported only when a verb runs: transformers' model/processor machinery (seconds), data and training libraries.
HEAVY = ["transformers.modeling_utils", "transformers.processing_utils", "datasets", "accelerate", "matplotlib"]

# As the console script: `import whisper_gpt_hf` sees argv[0] == "whisper-gpt" and defers the model classes.
AS_CONSOLE_SCRIPT = "import sys; sys.argv[0] = 'whisper-gpt'\n"


def run_python(code: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, **kwargs)


def test_help_of_every_verb_imports_none_of_the_stack():
    code = AS_CONSOLE_SCRIPT + f"""
import json
from whisper_gpt_hf import cli
loaded = {{}}
for verb in [None, *cli.VERBS]:
    try:
        cli.main([verb, "--help"] if verb else ["--help"])
    except SystemExit as exit:
        assert exit.code == 0, (verb, exit.code)
    loaded[verb or "(top)"] = [m for m in {HEAVY!r} if m in sys.modules]
print(json.dumps(loaded))
"""
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(loaded) == {"(top)", *cli.VERBS}
    assert loaded == {verb: [] for verb in loaded}, f"--help imported heavy modules: {loaded}"


def test_top_level_help_imports_no_verb_module():
    proc = run_python(AS_CONSOLE_SCRIPT + """
from whisper_gpt_hf import cli
try:
    cli.main(["--help"])
except SystemExit:
    pass
print(sorted(m for m, _ in cli.VERBS.values() if m in sys.modules))
""")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"
    for verb, (_, help) in cli.VERBS.items():
        assert verb in proc.stdout and help in " ".join(proc.stdout.split())


@pytest.mark.parametrize("verb", list(cli.VERBS))
def test_verb_table_matches_what_the_module_registers(verb):
    parser = cli.build_parser([verb])
    action = next(a for a in parser._subparsers._group_actions if a.dest == "command")
    helps = {choice.dest: choice.help for choice in action._choices_actions}
    assert helps[verb] == cli.VERBS[verb][1]
    verb_parser = action.choices[verb]
    nested = [a for a in verb_parser._actions if a.choices and isinstance(a.choices, dict)]  # e.g. convert encodec
    runnable = [p for a in nested for p in a.choices.values()] if nested else [verb_parser]
    assert all(p.get_default("func") is not None for p in runnable), f"{verb} sets no func"


def _took(cmd) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    return time.perf_counter() - start


def test_help_is_about_as_fast_as_importing_torch_and_transformers():
    # The goal is 1.5x `python -c "import torch, transformers"` (scripts/check_wheel.sh prints the ratios); the
    # assertion allows 2x so that a loaded 2-core machine does not make it flaky. Runs are interleaved (anchor,
    # help, anchor, ...) so that a change in load hits both; best of 2 each. Before the verb table, --help
    # imported the whole stack: ~2.5x (3.7 s vs 1.5 s here).
    script = shutil.which("whisper-gpt")
    if script is None:
        pytest.skip("the whisper-gpt console script is not on PATH (package not installed)")
    for verb in ([], ["train"], ["demo"]):
        pairs = [(_took([sys.executable, "-c", "import torch, transformers"]), _took([script, *verb, "--help"]))
                 for _ in range(2)]
        anchor, took = min(a for a, _ in pairs), min(h for _, h in pairs)
        assert took < 2.0 * anchor, f"whisper-gpt {' '.join(verb)} --help: {took:.2f} s vs anchor {anchor:.2f} s"


def test_usage_error_is_one_line_with_exit_status_2(capsys):
    with pytest.raises(SystemExit) as exit:
        cli.main(["generate", "--model", "m"])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert err == ("error: the following arguments are required: --prompt, --seconds, --output "
                   "(see `whisper-gpt generate --help`)\n")
    with pytest.raises(SystemExit) as exit:
        cli.main(["nope"])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: argument COMMAND: invalid choice: 'nope'") and err.count("\n") == 1


def _missing_prompt_argv(tmp_path):
    return ["generate", "--model", str(tmp_path / "model"), "--prompt", str(tmp_path / "missing.wav"),
            "--seconds", "1", "--output", str(tmp_path / "out.wav")]


def test_runtime_error_is_one_line_with_exit_status_1(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(cli.DEBUG_ENV, raising=False)
    monkeypatch.setattr(sys, "argv", ["whisper-gpt", *_missing_prompt_argv(tmp_path)])
    assert cli.main() == 1
    err = capsys.readouterr().err
    assert err == f"error: --prompt {tmp_path / 'missing.wav'} does not exist; pass an audio file to continue.\n"


@pytest.mark.parametrize("how", ["flag", "env"])
def test_debug_shows_the_traceback(tmp_path, monkeypatch, how):
    argv = _missing_prompt_argv(tmp_path)
    if how == "flag":
        argv = ["--debug", *argv]
    else:
        monkeypatch.setenv(cli.DEBUG_ENV, "1")
    monkeypatch.setattr(sys, "argv", ["whisper-gpt", *argv])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        cli.main()


def test_called_from_python_errors_propagate(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        cli.main(_missing_prompt_argv(tmp_path))


def test_format_error_names_the_type_only_when_the_message_needs_it():
    assert cli.format_error(ValueError("--seconds must be positive")) == "error: --seconds must be positive"
    assert cli.format_error(FileNotFoundError("no such file")) == "error: no such file"
    assert cli.format_error(KeyError("audio")) == "error: KeyError: 'audio'"
    assert cli.format_error(AssertionError()) == "error: AssertionError"


def test_console_script_prints_one_error_line(tmp_path):
    script = shutil.which("whisper-gpt")
    if script is None:
        pytest.skip("the whisper-gpt console script is not on PATH (package not installed)")
    env = {k: v for k, v in os.environ.items() if k != cli.DEBUG_ENV}
    proc = subprocess.run([script, *_missing_prompt_argv(tmp_path)], capture_output=True, text=True, timeout=300,
                          env=env)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: --prompt ") and proc.stderr.count("\n") == 1, proc.stderr
    assert "Traceback" not in proc.stderr
