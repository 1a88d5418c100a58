"""Re-run the reliability probe's failing cases (../shared/reports/reliability-probe.md: 30 silent wrong, 30 crash,
1 security rows) against the current tree, offline, on tiny models, and print each case's outcome and the totals.

    OMP_NUM_THREADS=1 python scripts/reliability_probe.py [--output probe.md] [--only 1.05,3.06]

Outcome classes, as in the probe: *clear error* (refused with a message naming the problem or the fix), *handled*
(correct result), *crash* (an exception whose message does not name the cause), *silent wrong* (a wrong result and no
error), *security* (code ran from a file), *data lost* (a file that should be untouched changed). Each case states the
behaviour it expects, so "clear error" means the expected exception with the expected words. The models, processor
and corpus are the test suite's tiny ones (`tests/helpers.py`): the probe's cases exercise input handling, not
model quality. The disk-full case mounts a 1.6 MB tmpfs (root only; else listed as not re-run).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import multiprocessing as mp
import os
import pickle
import re
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

from helpers import SR, test_audio, tiny_config, tiny_model, tiny_processor  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402

import whisper_gpt_hf as w  # noqa: E402
from whisper_gpt_hf.cli import main as cli_main  # noqa: E402

CLEAR, HANDLED, CRASH, SILENT, SECURITY, LOST = ("clear error", "handled", "crash", "silent wrong", "security",
                                                "data lost")
CASES: list[tuple[str, str, str, object]] = []  # (probe id, entry point, what, function -> (outcome, detail))


def case(probe_id: str, entry: str, what: str):
    def register(fn):
        CASES.append((probe_id, entry, what, fn))
        return fn
    return register


def expect_error(fn, pattern: str, types=(ValueError, OSError, RuntimeError)):
    """clear error if `fn` raises one of `types` whose message matches `pattern`; crash for another exception or
    message; silent wrong if it returns."""
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            fn()
    except Exception as err:  # noqa: BLE001
        text = f"{type(err).__name__}: {err}"
        if isinstance(err, types) and re.search(pattern, str(err), re.S):
            return CLEAR, _short(text)
        return CRASH, _short(text)
    return SILENT, "no error"


def expect_true(fn, label: str):
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            ok, detail = fn()
    except Exception as err:  # noqa: BLE001
        return CRASH, _short(f"{type(err).__name__}: {err}")
    return (HANDLED if ok else SILENT), f"{label}: {detail}"


def _short(text: str, n: int = 150) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 3] + "..."


def md5(path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------------------- fixtures
WORK = Path(tempfile.mkdtemp(prefix="whisper-gpt-probe-"))
FE = w.WhisperGPTFeatureExtractor(feature_size=16)
PROC = tiny_processor()
STEREO_NC = np.stack([test_audio(0.1, 0), test_audio(0.1, 1)], axis=1)  # [N, 2]: soundfile's layout
STEREO_CN = STEREO_NC.T.copy()  # [2, N]


def saved_model(name: str, use_spectrogram: bool = True, with_processor: bool = True, **config) -> Path:
    out = WORK / name
    if not out.exists():
        tiny_model(use_spectrogram, max_position_embeddings=64, **config).save_pretrained(out)
        if with_processor:
            PROC.save_pretrained(out)
    return out


def broken_copy(name: str, drop=None, nan=None, config=None, src=None) -> Path:
    src = src or saved_model("good")
    out = WORK / name
    shutil.copytree(src, out)
    weights = load_file(str(out / "model.safetensors"))
    if drop:
        del weights[drop]
    if nan:
        weights[nan] = torch.full_like(weights[nan], float("nan"))
    save_file(weights, str(out / "model.safetensors"), metadata={"format": "pt"})
    if config:
        cfg = json.loads((out / "config.json").read_text())
        cfg.update(config)
        cfg = {k: v for k, v in cfg.items() if v is not _DELETE}
        (out / "config.json").write_text(json.dumps(cfg))
    return out


_DELETE = object()


def prompt_wav(seconds: float = 0.3) -> Path:
    path = WORK / f"prompt-{seconds}.wav"
    if not path.exists():
        sf.write(path, test_audio(seconds), SR)
    return path


def dataset(name: str = "data", bad: bool = False) -> Path:
    root = WORK / name
    if not root.exists():
        for split, seeds in (("train", range(6)), ("validation", range(6, 8)), ("test", range(8, 10))):
            (root / split).mkdir(parents=True)
            for seed in seeds:
                if bad:
                    (root / split / f"clip{seed}.wav").write_bytes(b"RIFF....WAVEfmt " + bytes(64))
                else:
                    sf.write(root / split / f"clip{seed}.wav", test_audio(1.0, seed)[: (60 + 10 * (seed % 4)) * 320],
                             SR)
    return root


def train_args(out: Path, *extra: str, dropout: float = 0.0, data: Path | None = None,
               cache: str = "cache") -> list[str]:
    proc = WORK / "processor"
    if not proc.exists():
        PROC.save_pretrained(proc)
    tiny = {k: v for k, v in tiny_config().to_dict().items()
            if k in ("spectrogram_hidden_size", "spectrogram_num_layers", "spectrogram_num_heads",
                     "spectrogram_intermediate_size", "token_embedding_size", "hidden_size", "num_hidden_layers",
                     "num_attention_heads", "intermediate_size", "tie_word_embeddings")}
    return ["train", "--dataset", str(data or dataset()), "--preset", "hybrid-4m", "--processor", str(proc),
            "--model-overrides", json.dumps({**tiny, "max_position_embeddings": 64, "dropout": dropout}),
            "--window-frames", "32", "--min-frames", "8", "--batch-size", "2", "--warmup-steps", "2",
            "--log-every", "1", "--data-cache-dir", str(WORK / cache), "--seed", "7", "--eval-split", "",
            "--report-to", "none", "--output-dir", str(out), *extra]


def checksum(out: Path) -> float:
    return json.loads((out / "training_summary.json").read_text())["parameter_checksums"][0]


# ---------------------------------------------------------------------------------------------------- feature extractor
FIX = r"mean\(axis=1\)"


@case("1.03", "WhisperGPTFeatureExtractor()", "sampling_rate=24000.5")
def _():
    return expect_error(lambda: FE(np.zeros(1000, np.float32), sampling_rate=24000.5), "integer number of Hz")


@case("1.04", "WhisperGPTFeatureExtractor()", "stereo [2, N]")
def _():
    return expect_error(lambda: FE(STEREO_CN, sampling_rate=SR), FIX)


@case("1.05", "WhisperGPTFeatureExtractor()", "stereo [N, 2] (soundfile layout)")
def _():
    return expect_error(lambda: FE(STEREO_NC, sampling_rate=SR), FIX)


@case("1.17", "WhisperGPTFeatureExtractor()", "samples of 1e30")
def _():
    return expect_error(lambda: FE(np.full(2400, 1e30, np.float32), sampling_rate=SR), "scale it")


@case("1.23", "WhisperGPTFeatureExtractor()", "torch bfloat16 tensor")
def _():
    def run():
        out = FE(torch.from_numpy(test_audio(0.2)).bfloat16(), sampling_rate=SR, return_tensors="pt")
        x = out["input_features"]
        return x.shape == (1, 15, 16) and bool(torch.isfinite(x).all()), f"shape {tuple(x.shape)}, finite"
    return expect_true(run, "features")


@case("1.24", "WhisperGPTFeatureExtractor()", "a str path / a datasets dict / None")
def _():
    results = [expect_error(lambda a=a: FE(a, sampling_rate=SR), r"is a (str|dict|NoneType); pass a numpy")
               for a in ("x.wav", {"array": np.zeros(3), "sampling_rate": SR}, None)]
    return _worst(results)


def _worst(results):
    order = [SECURITY, LOST, SILENT, CRASH, CLEAR, HANDLED]
    return min(results, key=lambda r: order.index(r[0]))


# ---------------------------------------------------------------------------------------------------- processor
@case("1.29", "processor(audio=...)", "stereo [2, N]")
def _():
    return expect_error(lambda: PROC(audio=STEREO_CN, sampling_rate=SR), FIX)


@case("1.30", "processor(audio=...)", "stereo [N, 2], 0.1 s")
def _():
    start = time.perf_counter()
    outcome = expect_error(lambda: PROC(audio=STEREO_NC, sampling_rate=SR), FIX)
    return outcome[0], f"{outcome[1]} ({time.perf_counter() - start:.2f} s)"


@case("1.35", "processor(audio=...)", "samples of 1e30")
def _():
    return expect_error(lambda: PROC(audio=np.full(2400, 1e30, np.float32), sampling_rate=SR), "scale it")


@case("1.37", "processor(audio=...)", "a str / a datasets dict")
def _():
    return _worst([expect_error(lambda a=a: PROC(audio=a, sampling_rate=SR), r"is a (str|dict); pass")
                   for a in ("x.wav", {"array": np.zeros(3), "sampling_rate": SR})])


@case("1.42", "processor.batch_decode", "zero-length codes [1, 0]")
def _():
    return expect_error(lambda: PROC.batch_decode(torch.zeros(1, 0, dtype=torch.long)), "no frame")


@case("3.30", "AutoProcessor / WhisperGPTProcessor", "processor folder without audio_tokenizer/")
def _():
    out = WORK / "proc-no-codec"
    PROC.save_pretrained(out)
    shutil.rmtree(out / "audio_tokenizer")
    return expect_error(lambda: w.WhisperGPTProcessor.from_pretrained(out), "audio_tokenizer/")


@case("3.36", "AutoProcessor / WhisperGPTProcessor", "codec_source.subfolder = '../other/audio_tokenizer'")
def _():
    out, other = WORK / "proc-traversal", WORK / "proc-other"
    PROC.save_pretrained(out)
    PROC.save_pretrained(other)
    cfg = json.loads((out / "processor_config.json").read_text())
    cfg["codec_source"] = {"subfolder": "../proc-other/audio_tokenizer"}
    (out / "processor_config.json").write_text(json.dumps(cfg))
    return expect_error(lambda: w.WhisperGPTProcessor.from_pretrained(out), "leaves the processor folder")


# ---------------------------------------------------------------------------------------------------- continue_audio
def cont(audio, **kw):
    model = tiny_model(max_position_embeddings=64)
    return w.continue_audio(model, PROC, audio, sampling_rate=SR, **{"seconds": 0.05, "seed": 0, **kw})


@case("1.45", "continue_audio()", "stereo [2, N]")
def _():
    return expect_error(lambda: cont(STEREO_CN), FIX)


@case("1.46", "continue_audio()", "stereo [N, 2], 0.05 s")
def _():
    return expect_error(lambda: cont(STEREO_NC[:1200]), FIX)


@case("1.50", "continue_audio()", "samples of 1e30")
def _():
    return expect_error(lambda: cont(np.full(2400, 1e30, np.float32)), "scale it")


@case("1.51", "continue_audio()", "a list of two clips of different lengths")
def _():
    def run():
        out = cont([test_audio(0.2, 0), test_audio(0.1, 1)])
        ok = isinstance(out, (list, tuple)) and len(out) == 2
        return ok, f"returned {type(out).__name__} of {len(out) if isinstance(out, (list, tuple)) else '1 array'}"
    try:
        return expect_true(run, "continuations")
    except Exception:  # noqa: BLE001
        return CRASH, traceback.format_exc(limit=1)


@case("1.52", "continue_audio()", "a str")
def _():
    return expect_error(lambda: cont("x.wav"), r"is a str; pass")


@case("1.54", "continue_audio()", "seconds=nan")
def _():
    return expect_error(lambda: cont(test_audio(0.2), seconds=float("nan")), r"seconds")


@case("3.25", "continue_audio()", "model codec_hop_length 160, processor hop 320")
def _():
    model = tiny_model(codec_hop_length=160, max_position_embeddings=64)
    return expect_error(lambda: w.continue_audio(model, PROC, test_audio(0.2), sampling_rate=SR, seconds=0.05),
                        r"hop")


# ---------------------------------------------------------------------------------------------------- generate CLI
def generate(*extra, model=None, prompt=None, output=None):
    return cli_main(["generate", "--model", str(model or saved_model("good")), "--prompt", str(prompt or prompt_wav()),
                     "--seconds", "0.05", "--output", str(output or WORK / "gen.wav"), "--greedy", *extra])


@case("1.67", "whisper-gpt generate", "missing --prompt file")
def _():
    return expect_error(lambda: generate(prompt=WORK / "nope.wav"), "does not exist")


@case("1.74", "whisper-gpt generate", "--prompt-seconds -1")
def _():
    return expect_error(lambda: generate("--prompt-seconds", "-1"), "--prompt-seconds must be a positive")


@case("1.76", "whisper-gpt generate", "--output is an existing folder")
def _():
    folder = WORK / "outdir"
    folder.mkdir(exist_ok=True)
    outcome = expect_error(lambda: generate(output=folder), "is a folder")
    stray = [p.name for p in WORK.iterdir() if p.name.endswith(".tmp")]
    return (outcome if not stray else (CRASH, f"stray {stray}"))


@case("1.77", "whisper-gpt generate", "--model path with a typo")
def _():
    return expect_error(lambda: generate(model=WORK / "no-such-model"), "no such local folder")


@case("1.78", "whisper-gpt generate", "--output same as --prompt")
def _():
    prompt = WORK / "keep.wav"
    sf.write(prompt, test_audio(0.3), SR)
    before = md5(prompt)
    outcome = expect_error(lambda: generate(prompt=prompt, output=prompt), "is the --prompt file")
    return outcome if md5(prompt) == before else (LOST, "prompt changed")


@case("3.05", "whisper-gpt generate", "checkpoint without lm_head.weight")
def _():
    return expect_error(lambda: generate(model=broken_copy("gen-no-head", drop="lm_head.weight")), r"lm_head\.weight")


@case("3.09", "whisper-gpt generate", "NaN weights")
def _():
    return expect_error(lambda: generate(model=broken_copy("gen-nan", nan="lm_head.weight")), "non-finite")


# ---------------------------------------------------------------------------------------------------- model inputs
def inputs(batch: int = 1, frames: int = 20):
    torch.manual_seed(0)
    return dict(input_ids=torch.randint(0, 64, (batch, frames)), input_features=torch.randn(batch, frames, 16))


MODEL = tiny_model(max_position_embeddings=64)


@case("2.08", "model(**inputs)", "input_features all NaN")
def _():
    x = inputs()
    return expect_error(lambda: MODEL(input_ids=x["input_ids"], input_features=torch.full_like(x["input_features"],
                                                                                           float("nan"))), "NaN|finite")


@case("2.14", "model(**inputs)", "negative position_ids")
def _():
    return expect_error(lambda: MODEL(**inputs(), position_ids=torch.full((1, 20), -1)), "position")


@case("2.15", "model(**inputs)", "attention_mask all zeros")
def _():
    mask = torch.zeros(1, 20, dtype=torch.long)
    return expect_error(lambda: MODEL(**inputs(), attention_mask=mask), "attention_mask")


@case("2.16", "model(**inputs)", "attention_mask of the wrong length")
def _():
    return _worst([expect_error(lambda n=n: MODEL(**inputs(), attention_mask=torch.ones(1, n, dtype=torch.long)),
                                "attention_mask") for n in (10, 100)])


@case("2.19", "model(**inputs)", "labels=input_ids on a padded batch with its attention_mask")
def _():
    def run():
        x = inputs(2)
        mask = torch.ones(2, 20, dtype=torch.long)
        mask[1, 12:] = 0
        masked = x["input_ids"].masked_fill(mask == 0, -100)
        a = MODEL(**x, attention_mask=mask, labels=x["input_ids"]).loss
        b = MODEL(**x, attention_mask=mask, labels=masked).loss
        return bool(torch.allclose(a, b)), f"loss {a.item():.4f} vs {b.item():.4f} with -100 on padding"
    return expect_true(run, "padding not scored")


@case("2.20", "model(**inputs)", "labels all -100")
def _():
    def run():
        x = inputs()
        return MODEL(**x, labels=torch.full_like(x["input_ids"], -100)).loss
    try:
        loss = run()
    except ValueError as err:
        return CLEAR, _short(str(err))
    except Exception as err:  # noqa: BLE001
        return CRASH, _short(str(err))
    return (SILENT if loss is not None and not torch.isfinite(loss) else HANDLED), f"loss {loss}"


@case("2.22", "model(**inputs)", "labels shorter than input_ids")
def _():
    x = inputs()
    return expect_error(lambda: MODEL(**x, labels=x["input_ids"][:, :10]), "labels")


@case("2.23", "model(**inputs)", "batch of size 0")
def _():
    return expect_error(lambda: MODEL(**inputs(0)), r"empty|size 0|at least one|0 ")


@case("2.24", "model(**inputs)", "zero-length sequence [1, 0]")
def _():
    return expect_error(lambda: MODEL(**inputs(1, 0)), r"empty|length 0|at least one|0 frames|no frame")


@case("2.29", "model.generate()", "batch of size 0")
def _():
    model = tiny_model(use_spectrogram=False, max_position_embeddings=64)
    return expect_error(lambda: model.generate(input_ids=torch.zeros(0, 5, dtype=torch.long), max_new_tokens=2),
                        r"empty|size 0|at least one|0 ")


@case("2.30", "model.generate()", "attention_mask all zeros")
def _():
    model = tiny_model(use_spectrogram=False, max_position_embeddings=64)
    return expect_error(lambda: model.generate(input_ids=torch.ones(1, 5, dtype=torch.long),
                                               attention_mask=torch.zeros(1, 5, dtype=torch.long), max_new_tokens=2,
                                               do_sample=False), "attention_mask")


# ---------------------------------------------------------------------------------------------------- checkpoints
def load(path):
    from whisper_gpt_hf.loading import load_model

    return load_model(path)


@case("3.04", "load_model / CLI", "one tensor missing (layers.1.ln_attn.bias)")
def _():
    return expect_error(lambda: load(broken_copy("no-bias", drop="model.layers.1.ln_attn.bias")),
                        r"missing keys: model\.layers\.1\.ln_attn\.bias")


@case("3.06", "whisper-gpt evaluate", "checkpoint without lm_head.weight")
def _():
    model = broken_copy("eval-no-head", drop="lm_head.weight")
    return expect_error(lambda: cli_main(["evaluate", "--model", str(model), "--dataset", str(dataset()), "--split",
                                          "test", "--json"]), r"lm_head\.weight")


@case("3.08", "load_model / CLI", "NaN weights")
def _():
    return expect_error(lambda: load(broken_copy("nan", nan="model.embed_tokens.weight")), "non-finite")


@case("3.14", "load_model / CLI", "config.json without model_type")
def _():
    return expect_error(lambda: load(broken_copy("no-type", config={"model_type": _DELETE})), "model_type")


@case("3.15", "load_model / CLI", 'hidden_size: "16" (string)')
def _():
    return expect_error(lambda: load(broken_copy("str-hidden", config={"hidden_size": "16"})),
                        "hidden_size must be int")


@case("3.16", "load_model / CLI", "num_hidden_layers: 2.0 / 3.5")
def _():
    return _worst([expect_error(lambda v=v: load(broken_copy(f"float-layers-{v}", config={"num_hidden_layers": v})),
                                "num_hidden_layers must be int") for v in (2.0, 3.5)])


@case("3.17", "load_model / CLI", "vocab_size: null")
def _():
    return expect_error(lambda: load(broken_copy("null-vocab", config={"vocab_size": None})), "vocab_size must be int")


@case("3.18", "load_model / CLI", 'dropout: "0.1" (string)')
def _():
    return expect_error(lambda: load(broken_copy("str-dropout", config={"dropout": "0.1"})), "dropout must be")


@case("3.19", "load_model / CLI", 'activation_function: "nope"')
def _():
    return expect_error(lambda: load(broken_copy("act", config={"activation_function": "nope"})), "activation_function")


@case("3.20", "load_model / CLI", "num_attention_heads: 0")
def _():
    return expect_error(lambda: load(broken_copy("heads0", config={"num_attention_heads": 0})),
                        "num_attention_heads must be positive")


@case("3.21", "load_model / CLI", "num_attention_heads: -4")
def _():
    return expect_error(lambda: load(broken_copy("heads-4", config={"num_attention_heads": -4})),
                        "num_attention_heads must be positive")


@case("3.22", "load_model / CLI", 'use_spectrogram: "false" on a token-only checkpoint')
def _():
    src = saved_model("gpt", use_spectrogram=False)
    return expect_error(lambda: load(broken_copy("str-spec", src=src, config={"use_spectrogram": "false"})),
                        "use_spectrogram must be bool")


@case("3.26", "load_model / CLI", "config model_type gpt2")
def _():
    return expect_error(lambda: load(broken_copy("gpt2", config={"model_type": "gpt2"})), "model_type 'gpt2'")


# ---------------------------------------------------------------------------------------------------- training
@case("4.02", "whisper-gpt train", "resume vs uninterrupted, dropout 0.1")
def _():
    def run():
        ref, res = WORK / "drop-ref", WORK / "drop-res"
        cli_main(train_args(ref, "--max-steps", "10", "--save-every", "4", dropout=0.1))
        res.mkdir()
        shutil.copytree(ref / "checkpoint-4", res / "checkpoint-4")
        cli_main(train_args(res, "--max-steps", "10", "--save-every", "4", "--resume", dropout=0.1))
        return checksum(ref) == checksum(res), f"checksums {checksum(ref):.6f} vs {checksum(res):.6f}"
    return expect_true(run, "bit-exact")


@contextlib.contextmanager
def small_filesystem(size: str = "1600k"):
    """A real full-able filesystem: a tmpfs of `size` (needs root / CAP_SYS_ADMIN, else None)."""
    import subprocess

    folder = Path(tempfile.mkdtemp(prefix="whisper-gpt-full-"))
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                             capture_output=True).returncode == 0
    try:
        yield folder if mounted else None
    finally:
        if mounted:
            subprocess.run(["umount", str(folder)], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


@case("4.03", "whisper-gpt train", "disk full (1.6 MB tmpfs) during checkpoint saves")
def _():
    from whisper_gpt_hf.training import list_checkpoints

    with small_filesystem() as disk:
        if disk is None:
            return "not re-run", "no permission to mount a small tmpfs"
        out = disk / "run"
        outcome = expect_error(lambda: cli_main(train_args(out, "--max-steps", "200", "--save-every", "1",
                                                           "--save-total-limit", "0")),
                               r"Writing checkpoint-\d+ .*failed.*--resume", types=(OSError,))
        left = [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
        kept = list_checkpoints(str(out))
        if left or not kept:
            return CRASH, f"{outcome[1]}; temp folders left {left}, {len(kept)} whole checkpoints"
        return outcome[0], f"{outcome[1]} ({len(kept)} earlier checkpoints intact, no .tmp left)"


@case("4.11", "whisper-gpt train", "every clip unusable")
def _():
    bad = dataset("bad-data", bad=True)
    return expect_error(lambda: cli_main(train_args(WORK / "all-bad", "--max-steps", "2", data=bad)),
                        r"usable|No training examples")


@case("4.12", "whisper-gpt train", "truncated prepared-data cache file")
def _():
    out = WORK / "cache-ok"
    cli_main(train_args(out, "--max-steps", "1", "--save-every", "0", cache="cache-412"))
    arrows = sorted((WORK / "cache-412").rglob("*.arrow"))
    if not arrows:
        return CRASH, "no cache file found to truncate"
    data = arrows[0].read_bytes()
    arrows[0].write_bytes(data[: len(data) // 2])
    return expect_error(lambda: cli_main(train_args(WORK / "cache-bad", "--max-steps", "1", "--save-every", "0",
                                                    cache="cache-412")), r"damaged.*delete that folder")


@case("4.17", "whisper-gpt train", "rerun into a finished --output-dir (no checkpoints)")
def _():
    out = WORK / "finished"
    cli_main(train_args(out, "--max-steps", "2", "--save-every", "0"))
    before = (md5(out / "model.safetensors"), (out / "metrics.jsonl").read_text())
    outcome = expect_error(lambda: cli_main(train_args(out, "--max-steps", "2", "--save-every", "0", "--seed", "8")),
                           "--overwrite-output-dir")
    after = (md5(out / "model.safetensors"), (out / "metrics.jsonl").read_text())
    return outcome if after == before else (LOST, "model or metrics changed")


@case("4.18", "whisper-gpt train", "a second run into a folder a run is using")
def _():
    from whisper_gpt_hf.training import OutputDirLock

    out = WORK / "busy"
    out.mkdir()
    holder = OutputDirLock(str(out))
    try:
        outcome = expect_error(lambda: cli_main(train_args(out, "--max-steps", "2", "--resume")),
                               "Another training run")
        written = sorted(p.name for p in out.iterdir() if p.name != ".train.lock")
    finally:
        holder.release()
    return outcome if not written else (LOST, f"wrote {written}")


@case("4.20", "whisper-gpt train", "--model-overrides '{bad'")
def _():
    args = train_args(WORK / "bad-json", "--max-steps", "1")
    args[args.index("--model-overrides") + 1] = "{bad"
    return expect_error(lambda: cli_main(args), "--model-overrides is not valid JSON")


class _Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('code ran')",))


@case("5.05", "whisper-gpt train --resume", "__reduce__ payloads in every pickle-able name of a checkpoint")
def _():
    marker = WORK / "MARKER"
    src = WORK / "evil-src"
    cli_main(train_args(src, "--max-steps", "3", "--save-every", "2"))
    evil = WORK / "evil"
    evil.mkdir()
    shutil.copytree(src / "checkpoint-2", evil / "checkpoint-2")
    payload = pickle.dumps(_Payload(marker))
    for name in ("custom_checkpoint_0.pkl", "custom_checkpoint_1.pkl", "random_states_0.pkl", "optimizer.bin",
                 "scheduler.bin", "pytorch_model.bin", "scaler.pt"):
        (evil / "checkpoint-2" / name).write_bytes(payload)
    try:
        cli_main(train_args(evil, "--max-steps", "3", "--save-every", "0", "--resume"))
    except Exception as err:  # noqa: BLE001
        return (SECURITY if marker.exists() else CRASH), _short(str(err))
    return (SECURITY, "marker written") if marker.exists() else (HANDLED, "resumed; no code ran (marker absent)")


# ---------------------------------------------------------------------------------------------------- files, evaluate
def _writer(path: str, value: float, rounds: int, queue) -> None:
    from whisper_gpt_hf.audio.io import save_audio

    failures, bad_reads = 0, 0
    for _ in range(rounds):
        try:
            save_audio(path, np.full(4800, value, np.float32), SR)
            audio, _rate = sf.read(path)
            if len(audio) != 4800:
                bad_reads += 1
        except Exception:  # noqa: BLE001
            failures += 1
    queue.put((failures, bad_reads))


@case("6.02", "audio_io.save_audio", "2 processes x 150 writes to one path")
def _():
    path = str(WORK / "race.wav")
    queue = mp.get_context("fork").Queue()
    procs = [mp.get_context("fork").Process(target=_writer, args=(path, v, 150, queue)) for v in (0.25, -0.5)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    results = [queue.get() for _ in procs]
    failures, bad = sum(r[0] for r in results), sum(r[1] for r in results)
    stray = [p.name for p in WORK.iterdir() if p.name.startswith(".race.wav")]
    ok = failures == 0 and bad == 0 and not stray
    return (HANDLED if ok else LOST), f"{failures} failed writes, {bad} truncated reads, {len(stray)} temp files left"


@case("6.05", "whisper-gpt evaluate", "--max-windows 0")
def _():
    return expect_error(lambda: cli_main(["evaluate", "--model", str(saved_model("good")), "--dataset",
                                          str(dataset()), "--split", "test", "--max-windows", "0"]),
                        "--max-windows must be >= 1")


# ---------------------------------------------------------------------------------------------------- main
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", help="also write the markdown table here")
    parser.add_argument("--only", help="comma-separated probe ids")
    args = parser.parse_args(argv)
    only = set(args.only.split(",")) if args.only else None
    rows, totals = [], {}
    import logging

    logging.disable(logging.WARNING)
    for probe_id, entry, what, fn in CASES:
        if only and probe_id not in only:
            continue
        start = time.perf_counter()
        try:
            outcome, detail = fn()
        except Exception as err:  # noqa: BLE001  (a case whose setup itself failed)
            outcome, detail = CRASH, _short(f"{type(err).__name__}: {err}")
        totals[outcome] = totals.get(outcome, 0) + 1
        rows.append(f"| {probe_id} {what} | `{entry}` | {outcome} | {detail.replace('|', '/')} |")
        print(f"{probe_id:5s} {outcome:13s} {time.perf_counter() - start:5.1f}s  {what}", file=sys.stderr)
    table = "\n".join(["| case | API/CLI | outcome | detail |", "|---|---|---|---|", *rows])
    summary = ", ".join(f"{k}: {v}" for k, v in sorted(totals.items(), key=lambda kv: -kv[1]))
    text = f"{table}\n\n{len(rows)} cases re-run: {summary}\n"
    print(text)
    if args.output:
        Path(args.output).write_text(text)
    shutil.rmtree(WORK, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
