"""Spoken digits made by Debian's ``espeak-ng`` in many voices, and log-mel spectrograms made
with ``torch.stft`` and a mel filterbank written out here (HTK's mel formula).

Why synthesise? Recorded digit corpora (Speech Commands, FSDD) are downloads; ``espeak-ng`` is
a Debian package that says any word in dozens of accents and voice variants, at any speed and
pitch, so the book can hold out whole *voices* and ask whether a network recognises a digit
said by a voice it never heard. Synthetic speech is cleaner and more regular than recorded
speech, so the accuracies here are easier than those on real recordings.

    voices = speech.voice_names(["en-us", "en-gb"], ["m1", "f2"])          # "en-us+m1", ...
    digits = speech.synthesize_digits(voices=voices, repeats=4, seed=0)   # cached, int16
    x = speech.clips(digits, snr_db=10, seed=0)          # float [N, 19200]: 1.2 s at 16 kHz
    spec = speech.log_mel(x)                             # float [N, 40, 121]: dB

Nothing runs on import: ``espeak-ng`` is looked up and called only when something is made.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import shutil
import subprocess
import sys
import time
import wave
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .data import data_dir

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ESPEAK_RATE = 22050          # espeak-ng writes 16-bit mono WAV at 22,050 Hz
SAMPLE_RATE = 16000          # what the book resamples to (the usual rate for speech models)
CLIP_SECONDS = 1.2           # every word is placed in a window this long (121 frames of 10 ms)
FIX = "run `make data`, or `sudo apt-get install espeak-ng` (Colab: `!apt-get install -y espeak-ng`)"


class SpeechError(RuntimeError):
    """espeak-ng is missing, failed, hung, or was given a voice it does not have."""


# --------------------------------------------------------------------------- espeak-ng


def espeak_binary() -> str:
    """The path of ``espeak-ng``, or a SpeechError that says how to install it."""
    path = shutil.which("espeak-ng")
    if path is None:
        raise SpeechError(f"espeak-ng is not installed (the speech chapter synthesises its "
                          f"spoken digits with it): {FIX}")
    return path


def _run(args: list[str], *, timeout: float) -> bytes:
    try:
        done = subprocess.run([espeak_binary(), *args], capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as err:
        raise SpeechError(f"espeak-ng {' '.join(args)} did not finish in {timeout:g} s; is the "
                          f"machine overloaded? Try again, or pass a larger timeout") from err
    if done.returncode != 0 or not done.stdout:
        raise SpeechError(f"espeak-ng {' '.join(args)} failed (exit {done.returncode}): "
                          f"{done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def list_voices(kind: str = "en", *, timeout: float = 10.0) -> list[str]:
    """Names ``espeak-ng -v`` accepts: the languages of ``--voices=en`` (accents such as
    ``en-us``, ``en-gb-scotland``; MBROLA voices, which need another package, left out), or the
    variant files of ``--voices=variant`` (``m1``, ``f2``, ``Andy``, ...), the part after "+"."""
    names = []
    for line in _run([f"--voices={kind}"], timeout=timeout).decode().splitlines()[1:]:
        cols = line.split()                    # Pty, Language, Age/Gender, VoiceName, File, ...
        if len(cols) < 5 or cols[4].startswith("mb/") or (kind != "variant" and cols[1] == "variant"):
            continue                           # MBROLA voices; a variant listed among languages
        name = cols[4].split("/", 1)[1] if kind == "variant" else cols[1]
        if name not in names:
            names.append(name)
    return names


def variant_text(name: str, *, timeout: float = 10.0) -> str:
    """The text of espeak-ng's variant file ``name`` (pitch range, formant scalings, filters):
    what makes ``m8`` sound unlike ``m7``. Read from espeak-ng's data directory."""
    data = _run(["--version"], timeout=timeout).decode().split("Data at:")[-1].strip()
    path = Path(data) / "voices" / "!v" / name
    if not path.exists():
        raise SpeechError(f"no variant file {path}; see `espeak-ng --voices=variant`")
    return path.read_text(errors="replace")


def voice_names(accents, variants) -> list[str]:
    """Every accent with every variant: ``["en-us+m1", "en-us+f2", ...]``."""
    return [f"{a}+{v}" for a in accents for v in variants]


def check_voices(voices, *, timeout: float = 10.0) -> None:
    """Fail in seconds on a voice espeak-ng lacks (it would silently fall back to another:
    ``en-xx`` speaks as ``en``, an unknown variant is ignored)."""
    accents, variants = set(list_voices("en", timeout=timeout)), None
    for voice in voices:
        accent, _, variant = voice.partition("+")
        if accent not in accents:
            raise SpeechError(f"espeak-ng has no English voice {accent!r} (in {voice!r}); it "
                              f"has: {', '.join(sorted(accents))}")
        if variant:
            variants = variants or set(list_voices("variant", timeout=timeout))
            if variant not in variants:
                raise SpeechError(f"espeak-ng has no variant {variant!r} (in {voice!r}); see "
                                  f"`espeak-ng --voices=variant`")


def parse_wav(data: bytes) -> tuple[np.ndarray, int]:
    """16-bit mono WAV bytes -> (float32 samples in [-1, 1), sample rate), with ``wave``.

    espeak-ng's ``--stdout`` header gives a huge placeholder length (it writes before it knows
    the length); ``readframes`` stops at the end of the data, so that is harmless."""
    with wave.open(io.BytesIO(data)) as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1:
            raise SpeechError(f"expected 16-bit mono WAV, got {8 * w.getsampwidth()}-bit with "
                              f"{w.getnchannels()} channels")
        rate, frames = w.getframerate(), w.readframes(w.getnframes())
    return np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768, rate


def synthesize(text: str, *, voice: str = "en-us", speed: int = 175, pitch: int = 50,
               timeout: float = 10.0) -> tuple[np.ndarray, int]:
    """Say ``text`` with espeak-ng: voice ``accent+variant``, ``speed`` in words per minute
    (``-s``, 80 to 450), ``pitch`` 0 to 99 (``-p``). Returns (float32 samples, 22050)."""
    return parse_wav(_run(["--stdout", "-v", voice, "-s", str(speed), "-p", str(pitch), text],
                          timeout=timeout))


def trim(x: np.ndarray, *, rate: int, threshold: float = 0.02, margin: float = 0.01) -> np.ndarray:
    """Cut the silence espeak-ng puts before and after a word: keep from the first to the last
    sample louder than ``threshold`` x the peak, plus ``margin`` seconds on each side."""
    loud = np.flatnonzero(np.abs(x) > threshold * np.abs(x).max())
    if len(loud) == 0:
        return x
    pad = int(margin * rate)
    return x[max(0, loud[0] - pad):loud[-1] + 1 + pad]


def resample(x: np.ndarray, *, rate: int, to: int) -> np.ndarray:
    """Polyphase resampling with scipy (anti-aliasing filter included): 22050 -> 16000 Hz."""
    from scipy.signal import resample_poly

    g = math.gcd(rate, to)
    return resample_poly(x, to // g, rate // g).astype(np.float32)


# --------------------------------------------------------------------------- the data set


@dataclass
class SpokenDigits:
    """Trimmed words at ``sample_rate``, all in one int16 tensor: clip i is
    ``waves[offsets[i]:offsets[i] + lengths[i]]``. labels are digit ids; voice indexes
    ``voices``; speed (words per minute) and pitch are espeak-ng's settings for the clip."""
    waves: torch.Tensor            # int16 [total samples]
    offsets: torch.Tensor          # int64 [N]
    lengths: torch.Tensor          # int64 [N]
    labels: torch.Tensor           # int64 [N]
    voice: torch.Tensor            # int64 [N]
    speed: torch.Tensor            # int64 [N]
    pitch: torch.Tensor            # int64 [N]
    voices: tuple
    sample_rate: int = SAMPLE_RATE
    seconds: float | None = None   # synthesis time; None when read from the cache
    path: Path | None = field(default=None, compare=False)

    def __len__(self) -> int:
        return len(self.labels)

    def word(self, i: int) -> torch.Tensor:
        """Clip ``i`` as float32 samples in [-1, 1), trimmed."""
        o, n = int(self.offsets[i]), int(self.lengths[i])
        return self.waves[o:o + n].float() / 32768

    def subset(self, index) -> "SpokenDigits":
        """The clips selected by ``index`` (a boolean mask or indices); shares ``waves``."""
        index = torch.as_tensor(index)
        pick = lambda t: t[index]                                        # noqa: E731
        return SpokenDigits(self.waves, pick(self.offsets), pick(self.lengths),
                            pick(self.labels), pick(self.voice), pick(self.speed),
                            pick(self.pitch), self.voices, self.sample_rate, self.seconds,
                            self.path)

    def voice_of(self) -> list[str]:
        """The voice name of every clip."""
        return [self.voices[i] for i in self.voice.tolist()]


def _plan(voices, words, repeats, speeds, pitches, seed) -> list[tuple]:
    """(word id, voice id, speed, pitch) of every clip: speed and pitch drawn uniformly."""
    rng = np.random.default_rng(seed)
    plan = []
    for v in range(len(voices)):
        for w in range(len(words)):
            for _ in range(repeats):
                plan.append((w, v, int(rng.integers(speeds[0], speeds[1] + 1)),
                             int(rng.integers(pitches[0], pitches[1] + 1))))
    return plan


def cache_path(settings: dict, *, root: Path | None = None) -> Path:
    """Where a data set with these settings is cached: ``data_dir()/speech/digits-<hash>.pt``."""
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    return (data_dir() if root is None else Path(root)) / "speech" / f"digits-{key}.pt"


def synthesize_digits(*, voices, repeats: int, seed: int, words=DIGITS,
                      speeds=(130, 210), pitches=(25, 75), sample_rate: int = SAMPLE_RATE,
                      workers: int | None = None, timeout: float = 10.0,
                      root: Path | None = None, progress: bool = True) -> SpokenDigits:
    """Every word in every voice, ``repeats`` times, each at a speed and pitch drawn from the
    given ranges (seeded): trimmed, resampled to ``sample_rate``, stored as int16.

    Cached as one tensor file keyed by all these settings (and espeak-ng's version), written to
    a temporary file and renamed, so an interrupted run leaves nothing half-written. espeak-ng
    runs in ``workers`` threads (default: one per core), each call with a ``timeout``.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    voices, words = tuple(voices), tuple(words)
    version = _run(["--version"], timeout=timeout).decode().split("Data at")[0].strip()
    settings = dict(voices=voices, words=words, repeats=repeats, seed=seed, speeds=list(speeds),
                    pitches=list(pitches), sample_rate=sample_rate, espeak=version, format=1)
    path = cache_path(settings, root=root)
    if path.exists():
        data = torch.load(path, weights_only=False)
        if progress:
            print(f"{len(data['labels']):,} clips read from the cache {path}")
        return SpokenDigits(**data, voices=voices, sample_rate=sample_rate, seconds=None, path=path)

    check_voices(voices, timeout=timeout)
    plan = _plan(voices, words, repeats, speeds, pitches, seed)
    if progress:
        print(f"synthesising {len(plan):,} clips ({len(words)} words x {len(voices)} voices x "
              f"{repeats}) with {version} ...", flush=True)
    tick = time.perf_counter()

    def one(item):
        w, v, s, p = item
        x, rate = synthesize(words[w], voice=voices[v], speed=s, pitch=p, timeout=timeout)
        return resample(trim(x, rate=rate), rate=rate, to=sample_rate)

    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        clips = list(pool.map(one, plan))                # subprocesses run in parallel
    seconds = time.perf_counter() - tick
    lengths = torch.tensor([len(c) for c in clips])
    data = dict(
        waves=torch.from_numpy((np.concatenate(clips) * 32768).round().clip(-32768, 32767)
                               .astype(np.int16)),
        offsets=torch.cumsum(lengths, 0) - lengths, lengths=lengths,
        **{k: torch.tensor([c[i] for c in plan]) for i, k in
           enumerate(("labels", "voice", "speed", "pitch"))})
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        torch.save(data, part)
        part.replace(path)                               # atomic: the file is whole or absent
    finally:
        part.unlink(missing_ok=True)
    if progress:
        print(f"synthesised {len(plan):,} clips in {seconds:.1f} s "
              f"({len(plan) / seconds:,.0f} clips/s); cached in {path} "
              f"({path.stat().st_size / 1e6:.0f} MB)", file=sys.stdout)
    return SpokenDigits(**data, voices=voices, sample_rate=sample_rate, seconds=seconds, path=path)


# --------------------------------------------------------------------------- clips and noise


def add_noise(x: torch.Tensor, *, snr_db: float, power: torch.Tensor | None = None,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """``x`` [N, S] plus white Gaussian noise at ``snr_db`` dB below ``power`` (per row; default
    the mean square of the row): SNR = 10 log10(P_signal / P_noise)."""
    power = x.pow(2).mean(-1) if power is None else power                     # [N]
    std = (power / 10 ** (snr_db / 10)).sqrt()[:, None]                       # [N, 1]
    return x + std * torch.randn(x.shape, generator=generator, dtype=x.dtype)


def clips(data: SpokenDigits, *, seconds: float = CLIP_SECONDS, shift: float = 0.0,
          snr_db: float | None = None, seed: int = 0) -> torch.Tensor:
    """Every word placed in a window of ``seconds``: centred, moved ``shift`` seconds later
    (earlier if negative; the word is kept whole, so a shift is limited to the room left),
    with noise at ``snr_db`` relative to the word's own power (seeded). float32 [N, S]."""
    n = round(seconds * data.sample_rate)
    out = torch.zeros(len(data), n)
    power = torch.zeros(len(data))
    move = round(shift * data.sample_rate)
    for i in range(len(data)):
        w = data.word(i)[:n]                                 # a too-long word is cut
        start = min(max((n - len(w)) // 2 + move, 0), n - len(w))
        out[i, start:start + len(w)] = w
        power[i] = w.pow(2).mean()
    if snr_db is not None:
        out = add_noise(out, snr_db=snr_db, power=power,
                        generator=torch.Generator().manual_seed(seed))
    return out


# --------------------------------------------------------------------------- log-mel


def hz_to_mel(f):
    """HTK's mel scale: m = 2595 log10(1 + f / 700) (1000 Hz is about 1000 mel)."""
    return 2595 * torch.log10(1 + torch.as_tensor(f, dtype=torch.float64) / 700)


def mel_to_hz(m):
    """The inverse of ``hz_to_mel``: f = 700 (10^(m / 2595) - 1)."""
    return 700 * (10 ** (torch.as_tensor(m, dtype=torch.float64) / 2595) - 1)


def mel_filterbank(*, n_mels: int, n_fft: int, sample_rate: int, fmin: float = 0.0,
                   fmax: float | None = None) -> torch.Tensor:
    """Triangular filters [n_mels, n_fft // 2 + 1] on the STFT's frequency bins: centres evenly
    spaced in mel between fmin and fmax, each rising from its left neighbour's centre to 1 at
    its own and falling to 0 at its right neighbour's (HTK formula, no area normalisation:
    librosa's ``htk=True, norm=None``). Between the first and last centre the filters sum to 1."""
    fmax = sample_rate / 2 if fmax is None else fmax
    if not 0 <= fmin < fmax <= sample_rate / 2:
        raise ValueError(f"need 0 <= fmin < fmax <= sample_rate / 2, got {fmin}, {fmax}")
    freqs = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)   # [F]
    edges = mel_to_hz(torch.linspace(hz_to_mel(fmin).item(), hz_to_mel(fmax).item(), n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]     # [M, 1]
    rise = (freqs - lower) / (centre - lower)                                        # [M, F]
    fall = (upper - freqs) / (upper - centre)
    return torch.minimum(rise, fall).clamp(min=0).float()


def log_mel(x: torch.Tensor, *, sample_rate: int = SAMPLE_RATE, n_fft: int = 400,
            hop: int = 160, n_mels: int = 40, fmin: float = 0.0, fmax: float | None = None,
            floor: float = 1e-10) -> torch.Tensor:
    """Log-mel spectrogram in dB: waves [N, S] -> [N, n_mels, 1 + S // hop].

    A Hann window of ``n_fft`` samples (25 ms at 16 kHz) every ``hop`` samples (10 ms),
    centred frames (``torch.stft(center=True)`` pads n_fft/2 by reflection at both ends); power
    |X|^2 summed by the mel filters; 10 log10 of it, floored at ``floor`` (-100 dB)."""
    window = torch.hann_window(n_fft, device=x.device)
    spec = torch.stft(x, n_fft, hop_length=hop, window=window, center=True,
                      return_complex=True)                                  # [N, F, T] complex
    fb = mel_filterbank(n_mels=n_mels, n_fft=n_fft, sample_rate=sample_rate, fmin=fmin,
                        fmax=fmax).to(x.device)                             # [M, F]
    mel = fb @ spec.abs().pow(2)                                            # [N, M, T]
    return 10 * torch.log10(mel.clamp(min=floor))


def features(data: SpokenDigits, *, seconds: float = CLIP_SECONDS, shift: float = 0.0,
             snr_db: float | None = None, seed: int = 0, batch: int = 512, **mel) -> torch.Tensor:
    """``log_mel(clips(...))`` as images for a CNN: float32 [N, 1, n_mels, frames]."""
    x = clips(data, seconds=seconds, shift=shift, snr_db=snr_db, seed=seed)
    return torch.cat([log_mel(x[i:i + batch], sample_rate=data.sample_rate, **mel)
                      for i in range(0, len(x), batch)])[:, None]


class TensorBatches:
    """(x, y) minibatches of whole tensors kept on ``device``; reshuffled every pass when
    ``shuffle`` (order from ``generator``, else the global seed ``utils.set_seed`` fixes).
    ``transform`` (optional) maps a batch x to a batch x: augmentation on the device."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, *, batch_size: int, shuffle: bool,
                 device, generator: torch.Generator | None = None, transform=None):
        if len(x) != len(y) or batch_size < 1:
            raise ValueError(f"need len(x) == len(y) and batch_size >= 1, got {len(x)}, "
                             f"{len(y)}, {batch_size}")
        self.x, self.y = x.to(device), y.to(device)
        self.batch_size, self.shuffle, self.generator = batch_size, shuffle, generator
        self.transform = transform

    def __len__(self) -> int:
        return -(-len(self.y) // self.batch_size)

    def __iter__(self):
        n = len(self.y)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        order = order.to(self.x.device)
        for start in range(0, n, self.batch_size):
            idx = order[start:start + self.batch_size]
            x = self.x[idx]
            yield (x if self.transform is None else self.transform(x)), self.y[idx]


# --------------------------------------------------------------------------- augmentation


def _uniform(shape, x: torch.Tensor, generator=None) -> torch.Tensor:
    """U[0, 1) numbers from a CPU generator (the same on any device), moved to x's device."""
    return torch.rand(shape, generator=generator).to(x.device)


def random_tilt(x: torch.Tensor, *, amount: float, generator=None) -> torch.Tensor:
    """Add to each spectrogram [B, 1, M, T] a random straight line across the mel bands, the
    same in every frame: a gain of up to +-amount/2 plus a tilt that moves the lowest band by up
    to +-amount and the highest by as much the other way (units of x: dB for ``log_mel``;
    divide by the std if x is standardised). A microphone or a voice with another spectral
    colour does this to speech."""
    b, _, m, _ = x.shape
    gain, slope = (_uniform((2, b, 1), x, generator) * 2 - 1).unbind(0)           # [B, 1] each
    pos = torch.linspace(-1, 1, m, device=x.device)[None]                          # [1, M]
    return x + (amount * (gain / 2 + slope * pos))[:, None, :, None]


def freq_mask(x: torch.Tensor, *, max_bands: int, value: float = 0.0,
              generator=None) -> torch.Tensor:
    """SpecAugment's frequency masking (Park et al. 2019): in each spectrogram [B, 1, M, T] a
    random run of 0..max_bands mel bands is set to ``value`` (the mean, for standardised x), so
    the network cannot rely on any one band."""
    b, _, m, _ = x.shape
    width = (_uniform(b, x, generator) * (max_bands + 1)).long().clamp(max=m)      # [B]
    first = (_uniform(b, x, generator) * (m - width + 1)).long()                   # [B]
    bands = torch.arange(m, device=x.device)[None]                                 # [1, M]
    hide = (bands >= first[:, None]) & (bands < (first + width)[:, None])          # [B, M]
    return x.masked_fill(hide[:, None, :, None], value)


# --------------------------------------------------------------------------- the network


def digit_cnn(*, n_mels: int = 40, frames: int = 121, channels=(16, 32, 64, 128),
              head: str = "global", num_classes: int = 10) -> nn.Sequential:
    """A small 2D CNN on a log-mel "image" [B, 1, n_mels, frames]: per block a 3x3 conv,
    batch norm, ReLU and 2x2 max-pool (four blocks: a unit of the last one sees 46 frames and
    46 bands). ``head="global"`` averages the last map over frequency and time (global average
    pooling, as in NiN), so a word said earlier or later gives about the same features;
    ``head="flatten"`` feeds every position to a dense layer, which ties each weight to one
    place in the clip."""
    layers, c_in, m, t = [], 1, n_mels, frames
    for c in channels:
        layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(),
                   nn.MaxPool2d(2)]
        c_in, m, t = c, m // 2, t // 2                 # [B, c, m, t] after each block
    if head == "global":
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, num_classes)]
    elif head == "flatten":
        if m < 1 or t < 1:
            raise ValueError(f"{len(channels)} blocks shrink {n_mels}x{frames} to nothing")
        layers += [nn.Flatten(), nn.Linear(c_in * m * t, num_classes)]
    else:
        raise ValueError(f"head must be 'global' or 'flatten', got {head!r}")
    return nn.Sequential(*layers)


# --------------------------------------------------------------------------- pictures


def show_spectrograms(specs, *, titles=None, ncols: int = 5, hop_seconds: float = 0.01,
                      vmin: float | None = None, vmax: float | None = None, size=(2.2, 1.9)):
    """Log-mel spectrograms ([N, M, T] or [N, 1, M, T], dB) in a grid: time in seconds across,
    mel band up (low frequencies at the bottom), one colour scale for all so they compare."""
    import matplotlib.pyplot as plt

    specs = torch.as_tensor(specs).detach().float().cpu()
    specs = specs[:, 0] if specs.ndim == 4 else specs                               # [N, M, T]
    n, m, t = specs.shape
    vmin = specs.quantile(0.02).item() if vmin is None else vmin
    vmax = specs.max().item() if vmax is None else vmax
    rows = -(-n // ncols)
    fig, axes = plt.subplots(rows, min(ncols, n), squeeze=False, sharex=True, sharey=True,
                             figsize=(size[0] * min(ncols, n), size[1] * rows))
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.axis("off")
            continue
        im = ax.imshow(specs[i].numpy(), origin="lower", aspect="auto", cmap="magma",
                       vmin=vmin, vmax=vmax, extent=(0, t * hop_seconds, 0, m))
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=8)
    for ax in axes[-1]:
        ax.set_xlabel("time (s)", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("mel band", fontsize=8)
    fig.colorbar(im, ax=axes, shrink=0.8, label="dB")
    return fig
