"""utils.speech: the mel scale and filterbank against hand-computed values and their
properties, the spectrogram against numpy's FFT, noise at a stated SNR, clip placement, WAV
parsing, the errors when espeak-ng is missing or hangs, and (where espeak-ng is installed)
synthesis and its cache. The CNN's global pooling is checked to ignore a shift in time."""
import io
import math
import shutil
import subprocess
import wave

import numpy as np
import pytest
import torch

from utils import speech

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="Debian package espeak-ng is not installed "
                                         "(sudo apt-get install espeak-ng)")


# ------------------------------------------------------------------ mel scale and filterbank

def test_mel_scale_hand_values():
    # 2595 log10(1 + 1000/700) = 2595 x 0.385350... = 999.9855; 700 Hz: 2595 log10 2 = 781.17
    assert speech.hz_to_mel(1000).item() == pytest.approx(999.9855, abs=1e-3)
    assert speech.hz_to_mel(700).item() == pytest.approx(781.1728, abs=1e-3)
    assert speech.hz_to_mel(0).item() == 0
    f = torch.tensor([0.0, 55.0, 440.0, 1000.0, 7999.0])
    assert torch.allclose(speech.mel_to_hz(speech.hz_to_mel(f)), f.double(), atol=1e-8)


def test_filterbank_hand_computed_case():
    # 8 kHz, n_fft 8: bins at 0, 1000, 2000, 3000, 4000 Hz. Two filters, edges evenly spaced
    # in mel from 0 to mel(4000) = 2146.06: 0, 620.58, 1791.33, 4000 Hz.
    fb = speech.mel_filterbank(n_mels=2, n_fft=8, sample_rate=8000)
    expected = torch.tensor([[0, (1791.33 - 1000) / (1791.33 - 620.58), 0, 0, 0],
                             [0, (1000 - 620.58) / (1791.33 - 620.58),
                              2000 / (4000 - 1791.33), 1000 / (4000 - 1791.33), 0]])
    assert torch.allclose(fb, expected, atol=1e-4)                 # 0.6759, 0.3241, 0.9055, 0.4528


def test_filterbank_properties():
    n_fft, rate = 400, 16000
    fb = speech.mel_filterbank(n_mels=40, n_fft=n_fft, sample_rate=rate)
    assert fb.shape == (40, n_fft // 2 + 1) and (fb >= 0).all() and fb.max() <= 1 + 1e-6
    freqs = torch.linspace(0, rate / 2, n_fft // 2 + 1)
    edges = speech.mel_to_hz(torch.linspace(0, speech.hz_to_mel(rate / 2).item(), 42)).float()
    # between the first and the last centre, neighbouring triangles add up to exactly 1
    inside = (freqs >= edges[1]) & (freqs <= edges[-2])
    assert torch.allclose(fb[:, inside].sum(0), torch.ones(int(inside.sum())), atol=1e-5)
    # each filter is zero outside (its left, its right neighbour's centre) and peaks at its own
    for m in range(40):
        outside = (freqs <= edges[m]) | (freqs >= edges[m + 2])
        assert (fb[m, outside] == 0).all()
        peak = freqs[fb[m].argmax()]                   # one of the two bins around the centre
        assert abs(peak - edges[m + 1]) < rate / n_fft
    # the filters get wider with frequency (equal widths in mel)
    widths = (fb > 0).sum(1)
    assert widths[-1] > 4 * widths[5]
    with pytest.raises(ValueError, match="fmax"):
        speech.mel_filterbank(n_mels=4, n_fft=64, sample_rate=8000, fmax=5000)


# ------------------------------------------------------------------ the spectrogram

def tone(freq, *, seconds=0.5, rate=16000, amplitude=0.5):
    t = torch.arange(int(seconds * rate), dtype=torch.float64) / rate
    return (amplitude * torch.sin(2 * math.pi * freq * t)).float()


def test_stft_power_equals_numpy_fft_of_a_windowed_frame():
    x = tone(1000.0)
    n_fft, hop, frame = 400, 160, 20
    window = torch.hann_window(n_fft)
    power = torch.stft(x, n_fft, hop_length=hop, window=window, center=True,
                       return_complex=True).abs().pow(2)[:, frame]             # [201]
    start = frame * hop - n_fft // 2                        # centred frames, away from the edge
    w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)        # periodic Hann
    ref = np.abs(np.fft.rfft(x.numpy()[start:start + n_fft] * w)) ** 2
    assert np.allclose(power.numpy(), ref, rtol=1e-3, atol=1e-4 * ref.max())
    assert power.argmax().item() == round(1000 * n_fft / 16000)            # bin 25


@pytest.mark.parametrize("freq", [300.0, 1000.0, 2500.0, 6000.0])
def test_a_pure_tone_lands_in_the_mel_band_centred_nearest_to_it(freq):
    spec = speech.log_mel(tone(freq)[None])                                # [1, 40, T]
    assert spec.shape == (1, 40, 1 + 8000 // 160)
    centres = speech.mel_to_hz(torch.linspace(0, speech.hz_to_mel(8000).item(), 42))[1:-1]
    band = spec[0, :, 10:-10].mean(1).argmax().item()
    assert band == (centres - freq).abs().argmin().item()
    assert spec[0, band, 25] - spec[0, :, 25].median() > 20              # far above the rest (dB)


def test_log_mel_of_silence_is_the_floor():
    assert torch.allclose(speech.log_mel(torch.zeros(2, 1600)), torch.tensor(-100.0))


# ------------------------------------------------------------------ noise and clips

def test_noise_at_a_stated_snr():
    x = tone(440.0, seconds=2.0)[None].repeat(3, 1)                         # power 0.125
    noisy = speech.add_noise(x, snr_db=10, generator=torch.Generator().manual_seed(0))
    noise = noisy - x
    snr = 10 * torch.log10(x.pow(2).mean(1) / noise.pow(2).mean(1))
    assert torch.allclose(snr, torch.full((3,), 10.0), atol=0.1)
    assert noise.std(1).mean().item() == pytest.approx(math.sqrt(0.125 / 10), rel=0.02)
    again = speech.add_noise(x, snr_db=10, generator=torch.Generator().manual_seed(0))
    assert torch.equal(noisy, again)


def fake_digits(lengths, rate=16000):
    waves = torch.cat([torch.full((n,), 1000 * (i + 1), dtype=torch.int16)
                       for i, n in enumerate(lengths)])
    lengths = torch.tensor(lengths)
    n = len(lengths)
    return speech.SpokenDigits(waves, torch.cumsum(lengths, 0) - lengths, lengths,
                               torch.arange(n) % 10, torch.zeros(n, dtype=torch.long),
                               torch.full((n,), 170), torch.full((n,), 50), ("en-us",), rate)


def test_clips_centre_shift_and_keep_the_word_whole():
    d = fake_digits([4000, 8000])
    x = speech.clips(d, seconds=1.0)                                       # [2, 16000]
    assert x.shape == (2, 16000)
    on = [torch.nonzero(row).flatten() for row in x]
    assert on[0][0] == 6000 and on[0][-1] == 9999 and on[1][0] == 4000
    later = speech.clips(d, seconds=1.0, shift=0.25)                       # 4,000 samples
    start = [torch.nonzero(row).flatten()[0].item() for row in later]
    assert start == [10000, 8000]                     # the long word is stopped at the end
    assert torch.allclose(x[0, 6000], d.word(0)[0])
    sub = d.subset(torch.tensor([1]))
    assert len(sub) == 1 and torch.equal(sub.word(0), d.word(1))


def test_clips_with_noise_are_seeded():
    d = fake_digits([3000, 5000])
    a, b = (speech.clips(d, seconds=0.5, snr_db=0, seed=s) for s in (1, 1))
    assert torch.equal(a, b) and not torch.equal(a, speech.clips(d, seconds=0.5, snr_db=0, seed=2))
    # 0 dB: the noise has the word's power (word samples are constant 1000/32768)
    noise_power = (a - speech.clips(d, seconds=0.5)).pow(2).mean(1)
    assert torch.allclose(noise_power, torch.tensor([1000.0, 2000.0]).div(32768).pow(2), rtol=0.1)


# ------------------------------------------------------------------ WAV and espeak-ng errors

def wav_bytes(samples, *, rate=22050, width=2):
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(np.asarray(samples, dtype="<i2" if width == 2 else "u1").tobytes())
    return buf.getvalue()


def test_parse_wav():
    x, rate = speech.parse_wav(wav_bytes([0, 16384, -32768, 32767]))
    assert rate == 22050 and x.dtype == np.float32
    assert np.allclose(x, [0, 0.5, -1, 32767 / 32768])
    with pytest.raises(speech.SpeechError, match="16-bit mono"):
        speech.parse_wav(wav_bytes([1, 2, 3], width=1))


def test_missing_espeak_names_the_fix(monkeypatch):
    monkeypatch.setattr(speech.shutil, "which", lambda name: None)
    with pytest.raises(speech.SpeechError, match=r"make data.*apt-get install espeak-ng"):
        speech.synthesize("one")


def test_a_hanging_espeak_times_out_with_a_clear_error(monkeypatch):
    monkeypatch.setattr(speech, "espeak_binary", lambda: "espeak-ng")

    def hang(*args, timeout, **kwargs):
        raise subprocess.TimeoutExpired(args[0], timeout)

    monkeypatch.setattr(speech.subprocess, "run", hang)
    with pytest.raises(speech.SpeechError, match="did not finish in 0.5 s"):
        speech.synthesize("one", timeout=0.5)


@needs_espeak
def test_synthesize_a_word():
    x, rate = speech.synthesize("seven", voice="en-us+f2", speed=160, pitch=60)
    assert rate == speech.ESPEAK_RATE and x.dtype == np.float32
    assert 0.2 < len(x) / rate < 2 and 0.05 < np.abs(x).max() <= 1
    word = speech.trim(x, rate=rate)
    assert len(word) < len(x)
    y = speech.resample(word, rate=rate, to=16000)
    assert abs(len(y) - len(word) * 16000 / rate) <= 1


@needs_espeak
def test_voices_are_listed_and_unknown_ones_refused():
    accents, variants = speech.list_voices("en"), speech.list_voices("variant")
    assert {"en-us", "en-gb", "en-gb-scotland"} <= set(accents) and "variant" not in accents
    assert {"m1", "f2"} <= set(variants)
    speech.check_voices(["en-us+m1", "en-gb"])
    for bad in ("en-xx+m1", "en-us+zz"):        # espeak-ng itself would silently fall back
        with pytest.raises(speech.SpeechError, match="no "):
            speech.check_voices([bad])


@needs_espeak
def test_synthesize_digits_is_cached_atomically(tmp_path):
    kw = dict(voices=["en-us+m1", "en-gb+f2"], words=("one", "two"), repeats=2, root=tmp_path,
              progress=False)
    d = speech.synthesize_digits(seed=0, **kw)
    assert len(d) == 8 and d.seconds is not None and d.waves.dtype == torch.int16
    assert d.labels.tolist() == [0, 0, 1, 1] * 2 and d.voice_of()[4] == "en-gb+f2"
    assert ((d.speed >= 130) & (d.speed <= 210)).all() and d.path.exists()
    assert [p.name for p in d.path.parent.iterdir()] == [d.path.name]      # no .part left
    again = speech.synthesize_digits(seed=0, **kw)
    assert again.seconds is None and torch.equal(again.waves, d.waves)
    other = speech.synthesize_digits(seed=1, **kw)
    assert other.path != d.path and not torch.equal(other.speed, d.speed)


# ------------------------------------------------------------------ augmentation, batches, CNN

def test_random_tilt_adds_a_line_across_bands():
    x = torch.zeros(5, 1, 40, 7)
    y = speech.random_tilt(x, amount=6.0, generator=torch.Generator().manual_seed(0))
    assert (y == y[..., :1]).all()                               # the same in every frame
    line = y[:, 0, :, 0]
    assert torch.allclose(line.diff(n=2, dim=1), torch.zeros(5, 38), atol=1e-5)
    assert line.abs().max() <= 6.0 * 1.5 and line.std() > 0


def test_freq_mask_hides_a_run_of_bands():
    x = torch.ones(64, 1, 40, 5)
    y = speech.freq_mask(x, max_bands=8, generator=torch.Generator().manual_seed(0))
    hidden = (y[:, 0, :, 0] == 0)
    widths = hidden.sum(1)
    assert widths.max() <= 8 and widths.min() == 0 and len(widths.unique()) > 4
    for row in hidden:                                           # one contiguous run
        idx = torch.nonzero(row).flatten()
        assert len(idx) == 0 or idx[-1] - idx[0] + 1 == len(idx)


def test_tensor_batches_cover_everything_once():
    x, y = torch.arange(10.0)[:, None], torch.arange(10)
    b = speech.TensorBatches(x, y, batch_size=4, shuffle=True, device="cpu",
                             generator=torch.Generator().manual_seed(0), transform=lambda t: -t)
    got = list(b)
    assert len(b) == 3 == len(got)
    assert sorted(torch.cat([g[1] for g in got]).tolist()) == list(range(10))
    assert all(torch.equal(bx[:, 0], -by.float()) for bx, by in got)


def test_global_pooling_ignores_a_shift_in_time_and_flatten_does_not():
    torch.manual_seed(0)
    x = torch.zeros(1, 1, 40, 121)
    x[..., 10:30, 40:60] = torch.randn(20, 20)                  # a "word" in a silent clip
    moved = torch.roll(x, 16, dims=-1)                           # 16 frames: the CNN's stride
    for head, same in (("global", True), ("flatten", False)):
        net = speech.digit_cnn(head=head).eval()
        with torch.no_grad():
            a, b = net(x), net(moved)
        assert a.shape == (1, 10)
        assert torch.allclose(a, b, atol=1e-5) == same
