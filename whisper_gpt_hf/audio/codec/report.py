"""Codec report: how much information the coarse codes carry, and how well the codec reconstructs, per category.

On one split of the corpus (default `test`), for speech and music separately (and pooled), it measures

- coarse-codebook usage: entropy in bits of the first-codebook code histogram (at most log2(1024) = 10) and the
  fraction of the 1024 codes that occur at all;
- reconstruction log-mel L1: the package's causal 64-band log-mel front end (`WhisperGPTFeatureExtractor`, the same
  features the LM sees) of the input vs of the decoded audio, averaged over frames and bands;
- SI-SNR in dB (scale-invariant signal-to-noise ratio of the decoded waveform), averaged over clips,

for (a) the trained codec, (b) the same architecture with random weights and k-means codebooks fitted on encoder
outputs of the same training audio (what an untrained EnCodec with EnCodec's own codebook init gives), and (c) the
input itself (L1 = 0, SI-SNR = +inf: the ceiling). Clips are encoded at the lowest configured bandwidth and decoded
with **all** its codebooks (1.5 kbps = 2 codebooks for the committed codec); the LM itself only sees codebook 0.

Writes `codec_report.md`, `codec_report.json` and `codec_report.png` (input vs reconstruction log-mel spectrograms of
one speech and one music clip) to `--output-dir`:

    whisper-gpt codec-report --codec hub/whisper-gpt-codec-small --dataset hub/whisper-gpt-corpus-small \
        --split test --output-dir docs --update-card

`--update-card` also writes the table into the codec's model card (`README.md`, Evaluation section).
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch

from whisper_gpt_hf.audio.codec.card import update_card_report
from whisper_gpt_hf.audio.codec.config import SAMPLING_RATE
from whisper_gpt_hf.audio.codec.data import SegmentSampler, load_clips, to_float
from whisper_gpt_hf.audio.codec.quantization import init_codebooks_kmeans
from whisper_gpt_hf.audio.codec.train import encoder_outputs

CATEGORIES = ("speech", "music")
SYSTEMS = ("trained", "random_kmeans", "input")
SYSTEM_NAMES = {
    "trained": "trained codec",
    "random_kmeans": "random weights + k-means codebooks",
    "input": "input itself",
}


# ----------------------------------------------------------------------------------------------------------------------
# metrics


def si_snr(estimate: np.ndarray, reference: np.ndarray, eps: float = 1e-8) -> float:
    """Scale-invariant SNR in dB: the part of `estimate` along `reference` vs everything else (zero-mean first)."""
    ref = reference.astype(np.float64) - reference.mean()
    est = estimate.astype(np.float64) - estimate.mean()
    target = (est @ ref) / (ref @ ref + eps) * ref
    noise = est - target
    return float(10 * np.log10((target @ target + eps) / (noise @ noise + eps)))


def code_entropy_bits(hist: np.ndarray) -> float:
    p = hist[hist > 0] / hist.sum()
    return float(-(p * np.log2(p)).sum())


def lowest_bandwidth(codec) -> float:
    return float(min(codec.config.target_bandwidths))


@torch.no_grad()
def reconstruct(codec, audio: np.ndarray, bandwidth: float) -> tuple[np.ndarray, np.ndarray]:
    """Encode one float clip at `bandwidth` and decode it with all those codebooks: `(codes [n_q, T], audio)`."""
    wav = torch.from_numpy(audio)[None, None]
    enc = codec.encode(wav, bandwidth=bandwidth)
    out = codec.decode(enc.audio_codes, enc.audio_scales).audio_values[0, 0, : audio.shape[0]]
    return enc.audio_codes[0, 0].numpy(), out.numpy()


def bandwidths(codec) -> list[float]:
    return sorted(float(b) for b in codec.config.target_bandwidths)


@torch.no_grad()
def reconstruct_ladder(codec, audio: np.ndarray) -> tuple[np.ndarray, dict[float, np.ndarray]]:
    """Encode one float clip once at the top bandwidth; decode it at every configured bandwidth.

    Residual VQ is greedy, so the codes of a lower bandwidth are the first codebooks of the top one: decoding that
    prefix is what `encode(bandwidth=b)` + `decode` gives (a test checks it). Returns `(codes [n_q, T], {b: audio})`.
    """
    wav = torch.from_numpy(audio)[None, None]
    enc = codec.encode(wav, bandwidth=bandwidths(codec)[-1])
    out = {}
    for b in bandwidths(codec):
        n_q = codec.quantizer.get_num_quantizers_for_bandwidth(b)
        decoded = codec.decode(enc.audio_codes[:, :, :n_q], enc.audio_scales).audio_values
        out[b] = decoded[0, 0, : audio.shape[0]].numpy()
    return enc.audio_codes[0, 0].numpy(), out


@torch.no_grad()
def measure_codec(codec, clips: list[dict], feature_extractor, keep: set[str] = frozenset()) -> dict:
    """Per-category (and pooled) usage and reconstruction metrics of `codec` on `clips`, at every bandwidth.

    The top-level rows (`categories`) are at the lowest bandwidth; `ladder` has log-mel L1 and SI-SNR per configured
    bandwidth. `keep`: clip ids whose input / reconstruction log-mels are returned (under `"examples"`, the
    reconstruction at the lowest bandwidth as `output`, at the top one as `output_top`) for the figure.
    """
    ladder_bw = bandwidths(codec)
    bandwidth = ladder_bw[0]
    k = codec.config.codebook_size
    acc = {c: {"hist": np.zeros(k, np.int64), "l1_sum": 0.0, "l1_count": 0, "si_snr": [], "seconds": 0.0}
           for c in (*CATEGORIES, "all")}
    ladder = {b: {c: {"l1_sum": 0.0, "l1_count": 0, "si_snr": []} for c in (*CATEGORIES, "all")} for b in ladder_bw}
    examples = {}
    n_q = codec.quantizer.get_num_quantizers_for_bandwidth(bandwidth)
    for clip in clips:
        audio = to_float(clip["audio"])
        codes, recons = reconstruct_ladder(codec, audio)
        mel_in = feature_extractor.extract(torch.from_numpy(audio)[None])[0].numpy()  # [T, n_mels]
        mels, snrs = {}, {}
        for b, recon in recons.items():
            mels[b] = feature_extractor.extract(torch.from_numpy(recon)[None])[0].numpy()
            snrs[b] = si_snr(recon, audio)
            for cat in (clip["category"], "all"):
                a = ladder[b][cat]
                a["l1_sum"] += float(np.abs(mel_in - mels[b]).sum())
                a["l1_count"] += mel_in.size
                a["si_snr"].append(snrs[b])
        mel_out, snr = mels[bandwidth], snrs[bandwidth]
        for cat in (clip["category"], "all"):
            a = acc[cat]
            a["hist"] += np.bincount(codes[0], minlength=k)
            a["l1_sum"] += float(np.abs(mel_in - mel_out).sum())
            a["l1_count"] += mel_in.size
            a["si_snr"].append(snr)
            a["seconds"] += audio.shape[0] / SAMPLING_RATE
        if clip["id"] in keep:
            top = ladder_bw[-1]
            examples[clip["id"]] = {"input": mel_in, "output": mel_out, "l1": float(np.abs(mel_in - mel_out).mean()),
                                    "si_snr": snr, "output_top": mels[top],
                                    "l1_top": float(np.abs(mel_in - mels[top]).mean()), "si_snr_top": snrs[top]}
    ladder_rows = {}
    for b in ladder_bw:
        cats = {cat: {"clips": len(a["si_snr"]), "log_mel_l1": a["l1_sum"] / a["l1_count"],
                      "si_snr_db": float(np.mean(a["si_snr"]))}
                for cat, a in ladder[b].items() if a["si_snr"]}
        ladder_rows[f"{b:g}"] = {"bandwidth_kbps": b, "num_codebooks": codec.quantizer.get_num_quantizers_for_bandwidth(b),
                                 "categories": cats}
    rows = {}
    for cat, a in acc.items():
        if not a["si_snr"]:
            continue
        rows[cat] = {
            "clips": len(a["si_snr"]),
            "seconds": round(a["seconds"], 1),
            "frames": int(a["hist"].sum()),
            "entropy_bits": code_entropy_bits(a["hist"]),
            "codes_used_fraction": float((a["hist"] > 0).mean()),
            "log_mel_l1": a["l1_sum"] / a["l1_count"],
            "si_snr_db": float(np.mean(a["si_snr"])),
        }
    return {"bandwidth_kbps": bandwidth, "num_codebooks": n_q, "categories": rows, "ladder": ladder_rows,
            "examples": examples}


def ladder_ratios(ladder: dict) -> dict[str, float]:
    """Log-mel L1 at the top bandwidth over that at the lowest, per category (the issue's bar: <= 0.85)."""
    keys = sorted(ladder, key=lambda k: ladder[k]["bandwidth_kbps"])
    low, top = ladder[keys[0]]["categories"], ladder[keys[-1]]["categories"]
    return {cat: top[cat]["log_mel_l1"] / low[cat]["log_mel_l1"] for cat in low if cat in top}


def ladder_is_monotone(ladder: dict) -> dict[str, bool]:
    """Whether every bandwidth step lowers the log-mel L1, per category."""
    keys = sorted(ladder, key=lambda k: ladder[k]["bandwidth_kbps"])
    cats = ladder[keys[0]]["categories"]
    return {cat: all(ladder[b]["categories"][cat]["log_mel_l1"] < ladder[a]["categories"][cat]["log_mel_l1"]
                     for a, b in zip(keys, keys[1:])) for cat in cats}


def input_rows(clips: list[dict]) -> dict:
    """The input itself: nothing is lost (L1 0, SI-SNR +inf, stored as null in JSON); it has no codes."""
    rows = {}
    for cat in (*CATEGORIES, "all"):
        chosen = [c for c in clips if cat == "all" or c["category"] == cat]
        if chosen:
            seconds = sum(len(c["audio"]) for c in chosen) / SAMPLING_RATE
            rows[cat] = {"clips": len(chosen), "seconds": round(seconds, 1),
                         "entropy_bits": None, "codes_used_fraction": None, "log_mel_l1": 0.0, "si_snr_db": math.inf}
    return rows


# ----------------------------------------------------------------------------------------------------------------------
# the baseline: same architecture, random weights, k-means codebooks on the same training audio


def random_kmeans_codec(config, train_clips: list[dict], seconds: float = 120.0, seed: int = 0, iters: int = 10):
    """`EncodecModel(config)` with random weights and k-means codebooks fitted to its encoder outputs of training audio.

    Without the k-means step its codebooks would be all zero (every frame -> code 0), a straw man; with it, this is
    EnCodec at step 0 of training.
    """
    from transformers import EncodecModel

    torch.manual_seed(seed)
    codec = EncodecModel(config).eval()
    sampler = SegmentSampler(train_clips, SAMPLING_RATE, seed, gain_db=(0.0, 0.0))
    pool = encoder_outputs(codec, sampler, seconds, batch_size=8, device="cpu")
    init_codebooks_kmeans(codec, pool, iters=iters, seed=seed)
    return codec


# ----------------------------------------------------------------------------------------------------------------------
# the report


def pick_examples(clips: list[dict], min_seconds: float = 3.0) -> dict[str, str]:
    """One clip per category for the figure: the first (in dataset order) that lasts at least `min_seconds`."""
    picked = {}
    for cat in CATEGORIES:
        chosen = [c for c in clips if c["category"] == cat]
        long = [c for c in chosen if len(c["audio"]) >= min_seconds * SAMPLING_RATE]
        if chosen:
            picked[cat] = (long or chosen)[0]["id"]
    return picked


def run_report(codec_dir: str, dataset: str, split: str = "test", train_split: str = "train",
               max_seconds: float | None = None, baseline_seconds: float = 120.0, seed: int = 0,
               num_threads: int | None = None) -> dict:
    """Measure the three systems; returns the JSON-able report plus the example spectrograms (key `examples`)."""
    from transformers import EncodecModel

    from whisper_gpt_hf.modeling import WhisperGPTFeatureExtractor

    if num_threads:
        torch.set_num_threads(num_threads)
    start = time.perf_counter()
    codec = EncodecModel.from_pretrained(str(codec_dir)).eval()
    fe = WhisperGPTFeatureExtractor()
    clips = load_clips(dataset, split, max_seconds=max_seconds)
    train_clips = load_clips(dataset, train_split, max_seconds=4 * baseline_seconds)
    examples = pick_examples(clips)
    keep = set(examples.values())
    trained = measure_codec(codec, clips, fe, keep)
    baseline = measure_codec(random_kmeans_codec(codec.config, train_clips, baseline_seconds, seed), clips, fe, keep)
    report = {
        "codec": str(codec_dir),
        "dataset": str(dataset),
        "split": split,
        "max_seconds": max_seconds,
        "bandwidth_kbps": trained["bandwidth_kbps"],
        "num_codebooks_decoded": trained["num_codebooks"],
        "codebook_size": codec.config.codebook_size,
        "baseline": {"train_split": train_split, "kmeans_seconds": baseline_seconds, "seed": seed},
        "log_mel": "WhisperGPTFeatureExtractor: causal, 64 mel bands, n_fft 1024, hop 320, (log10(power) + 4) / 4",
        "systems": {"trained": trained["categories"], "random_kmeans": baseline["categories"],
                    "input": input_rows(clips)},
        "bandwidths_kbps": bandwidths(codec),
        "ladder": {"trained": trained["ladder"], "random_kmeans": baseline["ladder"]},
        "ladder_top_over_lowest": ladder_ratios(trained["ladder"]),
        "ladder_monotone": ladder_is_monotone(trained["ladder"]),
        "seconds_to_compute": None,
        "examples": {
            cat: {"id": cid, "input": trained["examples"][cid]["input"],
                  "trained": trained["examples"][cid], "random_kmeans": baseline["examples"][cid]}
            for cat, cid in examples.items()
        },
    }
    report["seconds_to_compute"] = round(time.perf_counter() - start, 1)
    return report


def _fmt(value, kind: str) -> str:
    if value is None:
        return "–"
    if kind == "pct":
        return f"{100 * value:.1f} %"
    if kind == "db":
        return "+inf" if math.isinf(value) else f"{value:.2f}"
    return f"{value:.2f}" if kind == "bits" else f"{value:.3f}"


def markdown_table(report: dict) -> str:
    lines = [
        "| category | system | coarse entropy (bits, max 10) | codes used | log-mel L1 | SI-SNR (dB) |",
        "|---|---|---|---|---|---|",
    ]
    for cat in (*CATEGORIES, "all"):
        for system in SYSTEMS:
            row = report["systems"][system].get(cat)
            if row is None:
                continue
            lines.append(
                f"| {cat} | {SYSTEM_NAMES[system]} | {_fmt(row['entropy_bits'], 'bits')} | "
                f"{_fmt(row['codes_used_fraction'], 'pct')} | {_fmt(row['log_mel_l1'], 'l1')} | "
                f"{_fmt(row['si_snr_db'], 'db')} |"
            )
    return "\n".join(lines)


def ladder_table(report: dict) -> str:
    """Quality vs bandwidth: log-mel L1 and SI-SNR per category at every configured bandwidth, with the baseline."""
    trained, baseline = report["ladder"]["trained"], report["ladder"]["random_kmeans"]
    keys = sorted(trained, key=lambda k: trained[k]["bandwidth_kbps"])
    lines = [
        "| category | kbps | codebooks | log-mel L1 | L1 / lowest bandwidth | L1 / baseline | SI-SNR (dB) | "
        "baseline log-mel L1 | baseline SI-SNR (dB) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for cat in (*CATEGORIES, "all"):
        if cat not in trained[keys[0]]["categories"]:
            continue
        low = trained[keys[0]]["categories"][cat]["log_mel_l1"]
        for key in keys:
            row, base = trained[key]["categories"][cat], baseline[key]["categories"][cat]
            lines.append(
                f"| {cat} | {trained[key]['bandwidth_kbps']:g} | {trained[key]['num_codebooks']} | "
                f"{row['log_mel_l1']:.3f} | {row['log_mel_l1'] / low:.2f}x | "
                f"{row['log_mel_l1'] / base['log_mel_l1']:.2f}x | {row['si_snr_db']:.2f} | "
                f"{base['log_mel_l1']:.3f} | {base['si_snr_db']:.2f} |"
            )
    return "\n".join(lines)


def markdown_report(report: dict, image: str | None = None, note: str | None = None,
                    ladder_image: str | None = None) -> str:
    trained = report["systems"]["trained"]
    clips = ", ".join(f"{trained[c]['clips']} {c} clips ({trained[c]['seconds'] / 60:.1f} min)"
                      for c in CATEGORIES if c in trained)
    text = [
        f"Codec report on the `{report['split']}` split of `{Path(report['dataset']).name}` ({clips}); "
        f"encoded at {report['bandwidth_kbps']} kbps and decoded with all {report['num_codebooks_decoded']} "
        f"codebooks of that bandwidth. Entropy and codes used refer to the first (coarse) codebook of "
        f"{report['codebook_size']} codes, the one WHISPER-GPT predicts. Log-mel L1 uses the package's causal "
        "64-band front end (the LM's own input features); SI-SNR is averaged over clips. The baseline is the same "
        "architecture with random weights and codebooks fitted by k-means on its encoder outputs of "
        f"{report['baseline']['kmeans_seconds']:.0f} s of the `{report['baseline']['train_split']}` split of the same "
        "corpus "
        "(EnCodec at step 0 of training); the input row is the ceiling.",
        "",
        markdown_table(report),
    ]
    if "ladder" in report:
        ratios = ", ".join(f"{cat} {r:.2f}x" for cat, r in report["ladder_top_over_lowest"].items())
        monotone = [cat for cat, ok in report["ladder_monotone"].items() if not ok]
        text += [
            "",
            "**Quality vs bandwidth.** The same clips encoded once and decoded with the first 1, 2, ... codebooks "
            f"(every configured bandwidth: {', '.join(f'{b:g}' for b in report['bandwidths_kbps'])} kbps); the "
            "baseline columns are the random-weights + k-means codec at the same bandwidth. Top-bandwidth log-mel L1 "
            f"over the lowest: {ratios}; every bandwidth step lowers it "
            + ("for every category." if not monotone else f"except for {', '.join(monotone)}."),
            "",
            ladder_table(report),
        ]
        if ladder_image:
            text += ["", f"![log-mel L1 and SI-SNR vs bandwidth]({ladder_image})"]
    if note:
        text += ["", note.strip()]
    if image:
        text += ["", f"![input vs reconstruction log-mel spectrograms]({image})"]
    return "\n".join(text) + "\n"


def plot_examples(report: dict, path: str | os.PathLike, seconds: float = 4.0) -> str:
    """Input / trained / baseline log-mel spectrograms of one speech and one music clip (first `seconds`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    examples = report["examples"]
    frames = int(seconds * SAMPLING_RATE / 320)
    top = report.get("bandwidths_kbps", [report["bandwidth_kbps"]])[-1]
    columns = 4 if top != report["bandwidth_kbps"] else 3
    fig, axes = plt.subplots(len(examples), columns, figsize=(4.4 * columns, 3.2 * len(examples)), squeeze=False)
    for row, (cat, ex) in enumerate(examples.items()):
        low = f"{report['bandwidth_kbps']:g} kbps"
        panels = [("input", ex["input"], None), (f"trained codec, {low}", ex["trained"]["output"], ex["trained"]),
                  (f"random weights + k-means, {low}", ex["random_kmeans"]["output"], ex["random_kmeans"])]
        if columns == 4:
            panels.insert(2, (f"trained codec, {top:g} kbps", ex["trained"]["output_top"],
                              {"l1": ex["trained"]["l1_top"], "si_snr": ex["trained"]["si_snr_top"]}))
        vmin, vmax = float(ex["input"].min()), float(ex["input"].max())
        for col, (name, mel, stats) in enumerate(panels):
            ax = axes[row, col]
            ax.imshow(mel[:frames].T, origin="lower", aspect="auto", vmin=vmin, vmax=vmax, cmap="magma",
                      extent=(0, min(frames, mel.shape[0]) / 75, 0, mel.shape[1]))
            title = f"{ex['id']}: {name}"
            if stats is not None:
                title += f"\nlog-mel L1 {stats['l1']:.3f}, SI-SNR {stats['si_snr']:.1f} dB"
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("seconds")
            ax.set_ylabel("mel band")
    fig.suptitle(f"Causal 64-band log-mel; lowest bandwidth {report['bandwidth_kbps']:g} kbps "
                 f"({report['num_codebooks_decoded']} codebooks)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return str(path)


def plot_ladder(report: dict, path: str | os.PathLike) -> str:
    """Log-mel L1 and SI-SNR vs bandwidth, per category: trained codec (solid) and random + k-means (dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_l1, ax_snr) = plt.subplots(1, 2, figsize=(10, 3.6))
    colours = {"speech": "tab:blue", "music": "tab:orange", "all": "tab:gray"}
    for system, style in (("trained", "-o"), ("random_kmeans", "--x")):
        ladder = report["ladder"][system]
        keys = sorted(ladder, key=lambda k: ladder[k]["bandwidth_kbps"])
        kbps = [ladder[k]["bandwidth_kbps"] for k in keys]
        for cat in CATEGORIES:
            if cat not in ladder[keys[0]]["categories"]:
                continue
            label = f"{cat}, {SYSTEM_NAMES[system]}"
            ax_l1.plot(kbps, [ladder[k]["categories"][cat]["log_mel_l1"] for k in keys], style, color=colours[cat],
                       label=label)
            ax_snr.plot(kbps, [ladder[k]["categories"][cat]["si_snr_db"] for k in keys], style, color=colours[cat],
                        label=label)
    for ax, name in ((ax_l1, "log-mel L1 (lower is better)"), (ax_snr, "SI-SNR, dB (higher is better)")):
        ax.set_xscale("log", base=2)
        ax.set_xticks(report["bandwidths_kbps"], [f"{b:g}" for b in report["bandwidths_kbps"]])
        ax.set_xlabel("bandwidth (kbps)")
        ax.set_title(name, fontsize=10)
        ax.grid(alpha=0.3)
    ax_l1.set_ylim(bottom=0)
    ax_snr.axhline(0, color="black", lw=0.8)
    ax_l1.legend(fontsize=7)
    fig.suptitle(f"Quality vs bandwidth on the `{report['split']}` split of {Path(report['dataset']).name}",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return str(path)


def to_json(report: dict) -> dict:
    """JSON-safe copy: no spectrogram arrays, +inf SI-SNR of the input as null with a note."""
    out = {k: v for k, v in report.items() if k != "examples"}
    out["examples"] = {cat: {"id": ex["id"], "trained": {"log_mel_l1": ex["trained"]["l1"],
                                                         "si_snr_db": ex["trained"]["si_snr"]},
                             "random_kmeans": {"log_mel_l1": ex["random_kmeans"]["l1"],
                                               "si_snr_db": ex["random_kmeans"]["si_snr"]}}
                       for cat, ex in report["examples"].items()}
    out["systems"] = json.loads(json.dumps(report["systems"]).replace("Infinity", "null"))
    out["note"] = "input rows: reconstruction is the input itself, so log-mel L1 = 0 and SI-SNR = +inf (null here)"
    return out


def write_report(report: dict, output_dir: str | os.PathLike, name: str = "codec_report",
                 note: str | None = None) -> dict[str, str]:
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"png": str(out / f"{name}.png"), "json": str(out / f"{name}.json"), "md": str(out / f"{name}.md"),
             "bandwidth_png": str(out / f"{name}_bandwidth.png")}
    plot_examples(report, paths["png"])
    plot_ladder(report, paths["bandwidth_png"])
    data = to_json(report)
    if note:
        data["data_note"] = note.strip()
    Path(paths["json"]).write_text(json.dumps(data, indent=2) + "\n")
    md = markdown_report(report, f"{name}.png", note, ladder_image=f"{name}_bandwidth.png")
    Path(paths["md"]).write_text(f"# Codec report\n\n{md}")
    return paths


def report_to_files(codec: str, dataset: str, split: str = "test", train_split: str = "train",
                    max_seconds: float | None = None, baseline_seconds: float = 120.0, seed: int = 0,
                    num_threads: int | None = None, output_dir: str | os.PathLike = "docs",
                    name: str = "codec_report", note: str | None = None, update_card: bool = False):
    """`whisper-gpt codec-report`: `run_report`, then `write_report` (md / json / png) and, with `update_card`, the
    table into the codec's model card; returns `(report, paths)`."""
    report = run_report(codec, dataset, split, train_split, max_seconds, baseline_seconds, seed, num_threads)
    paths = write_report(report, output_dir, name, note)
    if update_card:
        if not Path(codec, "README.md").exists():
            raise FileNotFoundError(f"--update-card needs a local codec folder with a README.md, got {codec}")
        update_card_report(codec, markdown_report(report, note=note))
    return report, paths


__all__ = [
    "CATEGORIES",
    "SYSTEMS",
    "SYSTEM_NAMES",
    "bandwidths",
    "code_entropy_bits",
    "measure_codec",
    "input_rows",
    "ladder_is_monotone",
    "ladder_ratios",
    "ladder_table",
    "lowest_bandwidth",
    "markdown_report",
    "markdown_table",
    "pick_examples",
    "plot_examples",
    "plot_ladder",
    "random_kmeans_codec",
    "reconstruct",
    "reconstruct_ladder",
    "report_to_files",
    "run_report",
    "si_snr",
    "to_json",
    "write_report",
]
