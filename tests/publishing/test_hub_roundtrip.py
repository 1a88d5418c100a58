"""The Hub round trip through a real Hub-protocol server (olah) on 127.0.0.1.

`whisper-gpt publish --dry-run` writes the folder that would be uploaded; it becomes a git repository (branch `main`)
under olah's `mirrors-path`, next to a git copy of the committed small corpus. With `HF_ENDPOINT` pointing at the
server and an empty `HF_HUB_CACHE`, two fresh Python processes then use only the Hub's HTTP API:

- one where `whisper_gpt_hf` cannot be imported (cwd a temporary folder, `PYTHONPATH` empty, the editable install's
  finder, the repository's paths and any installed copy scrubbed from `sys.meta_path` / `sys.path`): `AutoConfig`,
  `AutoModel`, `AutoModelForCausalLM`, `AutoFeatureExtractor` and `AutoProcessor` load the repo by id with
  `trust_remote_code=True` (also from a copy whose weights are git-LFS pointers), and the logits equal the local model's;
- one with the package installed: the same repo loads without `trust_remote_code` into the package's own classes,
  `load_dataset("ORG/corpus")` reads the corpus through the server, and one fine-tuning step (the training module's
  `train_step`) runs on it.

olah facts this test relies on (olah 0.5.4, `offline = true`, local git mirrors):
- a repo must be a git repository whose branch is `main`; files are served from git blobs, so LFS is not needed.
  A blob that is an LFS pointer is served from `.git/lfs/objects/` (where git-lfs keeps it): both layouts work, and
  `.gitattributes` itself changes nothing for olah (it matters for the real Hub: weights go to LFS / Xet there).
- a path that does not exist at a *branch name* answers `401 RepoNotFound` (the real Hub: `404 EntryNotFound`), which
  breaks transformers' probes for optional files (`adapter_config.json` with peft installed,
  `additional_chat_templates/` for processors). At a full commit sha it answers `404 EntryNotFound` like the Hub, and
  `GET /api/models/ORG/NAME` (no revision) is `401` while `/api/models/ORG/NAME/revision/main` works. So the clients
  resolve `main` to its commit with `HfApi().model_info(repo_id, revision="main")` and load with `revision=<sha>`,
  which is also what a careful user does (a pinned, immutable revision). `load_dataset` resolves the sha itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(
    shutil.which("olah-cli") is None,
    reason="olah-cli is not installed (pip install -e .[dev]): the Hub round trip needs a local Hub-protocol server",
)

from helpers import test_audio  # noqa: E402
from hub_helpers import card_evaluation, reference_logits, tiny_model, tiny_processor, write_audio_dataset  # noqa: E402
from whisper_gpt_hf.assets import CORPUS_SMALL, REPO_ROOT  # noqa: E402
from whisper_gpt_hf.cli import main as cli_main  # noqa: E402

ORG = "whisper-gpt-test"
MODEL_REPO = f"{ORG}/tiny-hybrid"
LFS_REPO = f"{ORG}/tiny-hybrid-lfs"
CORPUS_REPO = f"{ORG}/corpus"
CORPUS = CORPUS_SMALL
SERVER_START_TIMEOUT = 60
CLIENT_TIMEOUT = 240

# --------------------------------------------------------------------------------------------------- git repos

_GIT_ENV = {
    # Ignore the machine's git config (a global git-lfs filter would turn weights into pointers behind our back).
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "whisper-gpt tests",
    "GIT_AUTHOR_EMAIL": "tests@whisper-gpt.invalid",
    "GIT_COMMITTER_NAME": "whisper-gpt tests",
    "GIT_COMMITTER_EMAIL": "tests@whisper-gpt.invalid",
}


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, **_GIT_ENV}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout.strip()


def _lfs_pointers(repo: Path, pattern: str = "*.safetensors") -> None:
    """Store matching files the way git-lfs does: a pointer in git, the bytes in .git/lfs/objects/aa/bb/<sha256>."""
    for path in repo.rglob(pattern):
        data = path.read_bytes()
        oid = hashlib.sha256(data).hexdigest()
        store = repo / ".git" / "lfs" / "objects" / oid[:2] / oid[2:4]
        store.mkdir(parents=True, exist_ok=True)
        (store / oid).write_bytes(data)
        path.write_text(f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {len(data)}\n")


def git_repo_from(folder: Path, repo: Path, lfs: bool = False) -> str:
    """Copy `folder` to `repo` and commit it on branch `main`; return the commit sha."""
    shutil.copytree(folder, repo)
    repo.mkdir(parents=True, exist_ok=True)
    _git(repo, "init", "-q", "-b", "main")
    if lfs:
        _lfs_pointers(repo)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "upload")
    return _git(repo, "rev-parse", "HEAD")


# --------------------------------------------------------------------------------------------------- the server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:
        return 0


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """Publish (dry run) the tiny model, commit it and the corpus as git repos, serve them with olah; yield info."""
    if not CORPUS.is_dir():
        pytest.fail(f"The committed small corpus is missing at {CORPUS} (whisper-gpt make-corpus --size small ...).")
    root = tmp_path_factory.mktemp("hub")
    model, processor = tiny_model(seed=0), tiny_processor()
    model_dir = root / "trained"
    model.save_pretrained(model_dir)
    processor.save_pretrained(model_dir)
    results = root / "eval.json"
    results.write_text(json.dumps(card_evaluation(model, processor, write_audio_dataset(root / "audio")).to_dict()))
    published = root / "published"
    assert cli_main(["publish", str(model_dir), "--repo-id", MODEL_REPO, "--dry-run", "--output", str(published),
                     "--eval-results", str(results), "--dataset-id", CORPUS_REPO]) == 0

    mirrors = root / "mirrors"
    shas = {
        MODEL_REPO: git_repo_from(published, mirrors / "models" / MODEL_REPO),
        LFS_REPO: git_repo_from(published, mirrors / "models" / LFS_REPO, lfs=True),
        CORPUS_REPO: git_repo_from(CORPUS, mirrors / "datasets" / CORPUS_REPO),
    }
    port = _free_port()
    netloc = f"127.0.0.1:{port}"
    config = root / "olah.toml"
    config.write_text(
        "[basic]\n"
        f'host = "127.0.0.1"\nport = {port}\n'
        f'mirror-netloc = "{netloc}"\nmirror-lfs-netloc = "{netloc}"\n'
        f'repos-path = "{root / "olah-repos"}"\nmirrors-path = ["{mirrors}"]\n'
        "[accessibility]\noffline = true\n"
    )
    log = open(root / "olah.log", "w")
    server = subprocess.Popen(
        ["olah-cli", "-c", str(config), "--log-path", str(root / "olah-logs")],
        cwd=root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        probe = f"http://{netloc}/api/models/{MODEL_REPO}/revision/main"
        while _get(probe) != 200:
            if server.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(f"olah did not come up on {netloc} within {SERVER_START_TIMEOUT} s:\n"
                            + (root / "olah.log").read_text()[-3000:])
            time.sleep(0.3)
        yield {"root": root, "endpoint": f"http://{netloc}", "shas": shas, "model": model, "processor": processor}
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)  # its own session: only the server and its workers
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(timeout=10)
        log.close()


# --------------------------------------------------------------------------------------------------- the clients

_SCRUB = """
import importlib, importlib.abc, importlib.util, os, sys
REPO_ROOT = @REPO_ROOT@

class _NoWhisperGPT(importlib.abc.MetaPathFinder):
    # a non-editable install would sit in site-packages: refuse the package whatever the install mode
    def find_spec(self, name, path=None, target=None):
        if name == "whisper_gpt_hf" or name.startswith("whisper_gpt_hf."):
            raise ModuleNotFoundError(f"No module named {name!r} (hidden by the round-trip test)", name=name)
        return None

sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in (type(f).__module__ + repr(f)).lower()]
sys.path_hooks[:] = [h for h in sys.path_hooks if "editable" not in repr(h).lower()]
sys.path[:] = [p for p in sys.path if p and not os.path.abspath(p).startswith(REPO_ROOT)]
sys.path_importer_cache.clear()
importlib.invalidate_caches()
_spec = importlib.util.find_spec("whisper_gpt_hf")  # None once the editable finder is gone
SCRUB = {"found_after_scrub": getattr(_spec, "origin", None) if _spec else None,
         "editable_finders_left": [repr(f) for f in sys.meta_path if "editable" in repr(f).lower()]}
sys.meta_path.insert(0, _NoWhisperGPT())
try:
    import whisper_gpt_hf
except ImportError:
    pass
else:
    raise SystemExit("whisper_gpt_hf is still importable: the scrub failed")
""".replace("@REPO_ROOT@", repr(str(REPO_ROOT)))

_COMMON = """
import json, sys
import numpy as np
import torch
torch.set_num_threads(1)
from huggingface_hub import HfApi
from transformers import AutoConfig, AutoFeatureExtractor, AutoModel, AutoModelForCausalLM, AutoProcessor

OUT, MODEL_REPO, LFS_REPO, CORPUS_REPO = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
audio = np.load(f"{OUT}/audio.npy")
api = HfApi()

def pinned(repo_id):
    # olah answers missing files at a branch name with 401; at a commit sha with 404 as the Hub does (see module doc)
    return api.model_info(repo_id, revision="main").sha

def logits_of(model, processor):
    inputs = processor(audio=audio, sampling_rate=24000)
    with torch.no_grad():
        return inputs, model(**inputs).logits
"""

REMOTE_CLIENT = _SCRUB + _COMMON + """
report = {}
sha = pinned(MODEL_REPO)
config = AutoConfig.from_pretrained(MODEL_REPO, revision=sha, trust_remote_code=True)
model = AutoModelForCausalLM.from_pretrained(MODEL_REPO, revision=sha, trust_remote_code=True).eval()
processor = AutoProcessor.from_pretrained(MODEL_REPO, revision=sha, trust_remote_code=True)
base = AutoModel.from_pretrained(MODEL_REPO, revision=sha, trust_remote_code=True).eval()
feature_extractor = AutoFeatureExtractor.from_pretrained(MODEL_REPO, revision=sha, trust_remote_code=True)
for name, obj in (("config", config), ("model", model), ("processor", processor), ("base", base),
                  ("feature_extractor", feature_extractor), ("codec", processor.audio_tokenizer)):
    report[name] = type(obj).__module__ + "." + type(obj).__name__
inputs, logits = logits_of(model, processor)
np.save(f"{OUT}/remote_ids.npy", inputs["input_ids"].numpy())
np.save(f"{OUT}/remote_logits.npy", logits.numpy())
with torch.no_grad():
    hidden = base(**inputs).last_hidden_state
    report["base_matches_causal_lm"] = bool(torch.equal(hidden, model.model(**inputs).last_hidden_state))
report["feature_extractor_matches"] = feature_extractor.to_dict() == processor.feature_extractor.to_dict()

lfs_model = AutoModelForCausalLM.from_pretrained(LFS_REPO, revision=pinned(LFS_REPO), trust_remote_code=True).eval()
with torch.no_grad():
    report["lfs_logits_match"] = bool(torch.equal(lfs_model(**inputs).logits, logits))
report["whisper_gpt_hf_loaded"] = sorted(m for m in sys.modules if m.startswith("whisper_gpt_hf"))
report["scrub"] = SCRUB
json.dump(report, open(f"{OUT}/remote.json", "w"), indent=1)
"""

INSTALLED_CLIENT = _COMMON + """
import datasets
import whisper_gpt_hf
from accelerate import Accelerator
from whisper_gpt_hf import data
from whisper_gpt_hf import training

report = {}
sha = pinned(MODEL_REPO)
model = AutoModelForCausalLM.from_pretrained(MODEL_REPO, revision=sha).eval()  # no trust_remote_code
processor = AutoProcessor.from_pretrained(MODEL_REPO, revision=sha)
report["model"] = type(model).__module__ + "." + type(model).__name__
report["processor"] = type(processor).__module__ + "." + type(processor).__name__
report["is_package_model"] = isinstance(model, whisper_gpt_hf.WhisperGPTForCausalLM)
report["is_package_processor"] = isinstance(processor, whisper_gpt_hf.WhisperGPTProcessor)
inputs, logits = logits_of(model, processor)
np.save(f"{OUT}/installed_logits.npy", logits.numpy())

# the corpus, by repo id, through the server
corpus = datasets.load_dataset(CORPUS_REPO)
report["corpus_splits"] = {name: split.num_rows for name, split in corpus.items()}
report["corpus_columns"] = corpus["train"].column_names
train = corpus["train"].cast_column("audio", datasets.Audio(sampling_rate=processor.sampling_rate))

# one fine-tuning step with the training module's own step, on windows of the first training clips
prepared, _ = data.prepare_dataset(train.select(range(4)), processor, window_frames=64, progress=False)
batch = data.WhisperGPTDataCollator(return_metadata=False)([prepared[i] for i in range(min(4, len(prepared)))])
args = training.WhisperGPTTrainingArguments(output_dir=f"{OUT}/run", learning_rate=1e-3, warmup_steps=0, max_steps=1)
accelerator = Accelerator(cpu=True)
model.train()
optimizer = training.build_optimizer(model, args)
scheduler = training.build_scheduler(optimizer, args)
model, optimizer = accelerator.prepare(model, optimizer)
before = {k: v.detach().clone() for k, v in model.state_dict().items()}
loss, grad_norm, lr = training.train_step(model, batch, optimizer, scheduler, accelerator, args.max_grad_norm)
model.eval()
with torch.no_grad():
    loss_after = model(**batch).loss.item()
report["step"] = {"windows": int(batch["input_ids"].shape[0]), "frames": int(batch["attention_mask"].sum()),
                  "loss": float(loss), "loss_after": loss_after, "lr": lr,
                  "changed": sum(not torch.equal(before[k], v) for k, v in model.state_dict().items()),
                  "tensors": len(before)}
json.dump(report, open(f"{OUT}/installed.json", "w"), indent=1)
"""


def _client_env(hub, name: str) -> dict:
    cache = hub["root"] / f"cache-{name}"  # each client starts from an empty cache: every file comes over HTTP
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_", "TRANSFORMERS_"))}
    env.update(
        HF_ENDPOINT=hub["endpoint"],
        HF_HOME=str(cache / "home"),
        HF_HUB_CACHE=str(cache / "hub"),
        HF_DATASETS_CACHE=str(cache / "datasets"),
        HF_HUB_OFFLINE="0",
        HF_DATASETS_OFFLINE="0",
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        TRANSFORMERS_VERBOSITY="error",
        PYTHONPATH="",
        OMP_NUM_THREADS="1",
    )
    return env


@pytest.fixture(scope="module")
def clients(hub):
    """Run both clients side by side (each is mostly imports and HTTP); return their reports."""
    root = hub["root"]
    np.save(root / "audio.npy", test_audio(1.0, seed=11))
    procs = {}
    for name, source in (("remote", REMOTE_CLIENT), ("installed", INSTALLED_CLIENT)):
        workdir = root / f"client-{name}"
        workdir.mkdir()
        script = workdir / f"{name}_client.py"
        script.write_text(source)
        procs[name] = subprocess.Popen(
            ["nice", sys.executable, str(script), str(root), MODEL_REPO, LFS_REPO, CORPUS_REPO],
            cwd=workdir, env=_client_env(hub, name), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
    outputs = {}
    for name, proc in procs.items():
        try:
            outputs[name], _ = proc.communicate(timeout=CLIENT_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            outputs[name], _ = proc.communicate()
    for name, proc in procs.items():
        assert proc.returncode == 0, f"{name} client failed:\n{outputs[name][-6000:]}"
    return {name: json.loads((root / f"{name}.json").read_text()) for name in procs}


def test_remote_code_round_trip_without_the_package(hub, clients):
    report = clients["remote"]
    assert report["whisper_gpt_hf_loaded"] == []
    assert report["scrub"]["editable_finders_left"] == []
    import whisper_gpt_hf

    if Path(whisper_gpt_hf.__file__).resolve().is_relative_to(REPO_ROOT):  # editable install: the scrub alone hides it
        assert report["scrub"]["found_after_scrub"] is None, report["scrub"]
    for name in ("config", "model", "processor", "base", "feature_extractor"):
        assert report[name].startswith("transformers_modules."), (name, report[name])
    assert report["model"].endswith("modeling_whisper_gpt.WhisperGPTForCausalLM")
    assert report["base"].endswith("modeling_whisper_gpt.WhisperGPTModel")
    assert report["processor"].endswith("processing_whisper_gpt.WhisperGPTProcessor")
    assert report["codec"] == "transformers.models.encodec.modeling_encodec.EncodecModel"  # from audio_tokenizer/
    assert report["base_matches_causal_lm"] and report["feature_extractor_matches"]
    assert report["lfs_logits_match"]

    root = hub["root"]
    ids, logits = reference_logits(hub["model"], hub["processor"], np.load(root / "audio.npy"))
    np.testing.assert_array_equal(np.load(root / "remote_ids.npy"), ids)  # the codec came back bit-exact
    np.testing.assert_allclose(np.load(root / "remote_logits.npy"), logits, rtol=0, atol=1e-6)


def test_installed_package_round_trip_and_fine_tuning_on_the_corpus(hub, clients):
    report = clients["installed"]
    assert report["is_package_model"] and report["is_package_processor"], report
    assert report["model"].startswith("whisper_gpt_hf.")
    root = hub["root"]
    _, logits = reference_logits(hub["model"], hub["processor"], np.load(root / "audio.npy"))
    np.testing.assert_allclose(np.load(root / "installed_logits.npy"), logits, rtol=0, atol=1e-6)

    import pyarrow.parquet as pq

    local_rows = {}
    for shard in sorted((CORPUS / "data").glob("*.parquet")):
        split = shard.name.split("-")[0]
        local_rows[split] = local_rows.get(split, 0) + pq.ParquetFile(shard).metadata.num_rows
    assert report["corpus_splits"] == local_rows
    assert {"audio", "category"} <= set(report["corpus_columns"])

    step = report["step"]
    assert step["windows"] >= 1 and step["frames"] > 0
    assert np.isfinite(step["loss"]) and step["loss_after"] < step["loss"], step
    assert step["changed"] == step["tensors"], step  # every tensor moved (AdamW on all of them)


def test_server_served_the_card_metadata(hub):
    """olah parses the README's YAML (model-index included) into cardData, as the Hub does."""
    with urllib.request.urlopen(f"{hub['endpoint']}/api/models/{MODEL_REPO}/revision/main", timeout=5) as response:
        info = json.load(response)
    assert info["sha"] == hub["shas"][MODEL_REPO]
    card = info["cardData"]
    assert card["library_name"] == "transformers" and card["datasets"] == [CORPUS_REPO]
    assert card["model-index"][0]["results"][0]["metrics"][0]["type"] == "perplexity"
    files = {s["rfilename"] for s in info["siblings"]}
    assert {"model.safetensors", "audio_tokenizer/model.safetensors", "modeling_whisper_gpt.py", "README.md"} <= files
