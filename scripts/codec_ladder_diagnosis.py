"""Why the committed codec's bandwidth ladder is shallow (issue 10, item 1): for each clip, the log-mel L1 of the
codec's decode at each target bandwidth, next to the decoder fed the *unquantized* encoder output (the decoder's own
ceiling: no bitrate can do better than it), and the share of the encoder output's variance left after 1..K codebooks.
The last column needs no codec: the real audio with its exact STFT magnitudes (n_fft 1024, hop 256) and random phases
(inverse STFT, seed 0), scored the same way: what "the right spectrum, the wrong waveform" costs on this metric. A codec
at or near that row reproduces magnitudes but not phase, and only a phase-accurate (high SI-SNR) decode can go below it.

    python scripts/codec_ladder_diagnosis.py [--processor DIR] [--dataset DIR] [--split test] [--clips 8] [--seconds 4]

Log-mel: the package's causal front end (the processor's feature extractor), mean absolute difference against the real
audio's. Clips: the first and the last N of the split (the committed corpus is stored grouped by category).
"""

import argparse

import numpy as np
import torch

from whisper_gpt_hf.assets import CORPUS_SMALL, PROCESSOR_DEFAULT
from whisper_gpt_hf.audio.codec.quantization import residual_energy
from whisper_gpt_hf.data import load_audio_dataset
from whisper_gpt_hf.modeling import WhisperGPTProcessor


def random_phase(audio: np.ndarray, generator: torch.Generator | None, n_fft: int = 1024) -> np.ndarray:
    """`audio` rebuilt from its STFT magnitudes (Hann, hop n_fft / 4) with phases drawn uniformly from `generator`
    (None: the audio's own phases, which gives the audio back)."""
    x, window = torch.from_numpy(audio), torch.hann_window(n_fft)
    spec = torch.stft(x, n_fft, n_fft // 4, window=window, return_complex=True)
    phase = spec.angle() if generator is None else torch.rand(spec.shape, generator=generator) * 2 * torch.pi
    return torch.istft(torch.polar(spec.abs(), phase), n_fft, n_fft // 4, window=window, length=x.shape[0]).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processor", default=str(PROCESSOR_DEFAULT))
    parser.add_argument("--dataset", default=str(CORPUS_SMALL))
    parser.add_argument("--split", default="test")
    parser.add_argument("--clips", type=int, default=8, help="clips from each end of the split")
    parser.add_argument("--seconds", type=float, default=4.0, help="first seconds of each clip")
    args = parser.parse_args()
    torch.set_num_threads(1)
    processor = WhisperGPTProcessor.from_pretrained(args.processor)
    codec, fe = processor.audio_tokenizer.eval(), processor.feature_extractor
    sr = fe.sampling_rate
    ds = load_audio_dataset(args.dataset, split=args.split)
    n = len(ds)
    picked = ds.select(sorted(set(range(min(args.clips, n))) | set(range(max(0, n - args.clips), n))))

    def log_mel(audio: np.ndarray) -> np.ndarray:
        return fe(audio, sampling_rate=sr, return_tensors="np")["input_features"][0]

    def l1(decoded: np.ndarray, reference: np.ndarray) -> float:
        m = log_mel(decoded)
        t = min(len(m), len(reference))
        return float(np.abs(m[:t] - reference[:t]).mean())

    generator = torch.Generator().manual_seed(0)
    rows: dict[tuple[str, str], list] = {}
    with torch.no_grad():
        for example in picked:
            audio = np.asarray(example["audio"]["array"], dtype=np.float32)[: int(sr * args.seconds)]
            category = str(example.get("category", "all"))
            wav = torch.from_numpy(audio)[None, None]
            reference = log_mel(audio)
            z = codec.encoder(wav)
            rows.setdefault((category, "residual"), []).append(residual_energy(codec, z))
            for bw in codec.config.target_bandwidths:
                enc = codec.encode(wav, bandwidth=bw)
                decoded = codec.decode(enc.audio_codes, enc.audio_scales).audio_values[0, 0, : audio.shape[0]]
                rows.setdefault((category, f"{bw:g} kbps"), []).append(l1(decoded.numpy(), reference))
            decoded = codec.decoder(z)[0, 0, : audio.shape[0]]
            rows.setdefault((category, "unquantized"), []).append(l1(decoded.numpy(), reference))
            rows.setdefault((category, "random phase"), []).append(l1(random_phase(audio, generator), reference))

    categories = sorted({c for c, _ in rows})
    bandwidths = [f"{bw:g} kbps" for bw in codec.config.target_bandwidths]
    print("| category | " + " | ".join(bandwidths) + " | decoder, unquantized latent | top / lowest | "
          "ceiling / lowest | variance left after 1..K codebooks | real audio, random phase |")
    print("|---|" + "---|" * (len(bandwidths) + 5))
    for c in categories:
        means = [float(np.mean(rows[(c, b)])) for b in bandwidths]
        ceiling = float(np.mean(rows[(c, "unquantized")]))
        shares = np.mean(np.array(rows[(c, "residual")]), 0)
        print(f"| {c} ({len(rows[(c, 'unquantized')])} clips) | " + " | ".join(f"{m:.4f}" for m in means)
              + f" | {ceiling:.4f} | {means[-1] / means[0]:.3f}x | {ceiling / means[0]:.3f}x | "
              + " / ".join(f"{s:.3f}" for s in shares) + f" | {float(np.mean(rows[(c, 'random phase')])):.4f} |")


if __name__ == "__main__":
    main()
