"""A procedural music track: kick/snare/hi-hat, a bass line and a pentatonic melody at the dancer's tempo."""

import wave

import numpy as np

from .body import BPM

RATE = 44100
# chord roots (semitones above A1 = 55 Hz) of four-bar progressions
PROGRESSIONS = [[0, 8, 3, 10], [0, 5, 7, 5], [0, 10, 8, 7], [0, 3, 8, 10]]
PENTATONIC = [0, 3, 5, 7, 10, 12, 15, 17]


def _env(n, decay):
    return np.exp(-np.arange(n) / (decay * RATE))


def _add(buf, start, sound):
    i = int(round(start * RATE))
    if i >= len(buf):
        return
    k = min(len(sound), len(buf) - i)
    buf[i:i + k] += sound[:k]


def _kick():
    n = int(0.35 * RATE)
    t = np.arange(n) / RATE
    freq = 45 + 90 * np.exp(-t / 0.03)
    return np.sin(2 * np.pi * np.cumsum(freq) / RATE) * _env(n, 0.12)


def _snare(rng):
    n = int(0.25 * RATE)
    noise = rng.standard_normal(n)
    noise = np.diff(noise, prepend=0.0) * 0.5  # brighter
    tone = np.sin(2 * np.pi * 185 * np.arange(n) / RATE)
    return (0.5 * noise * _env(n, 0.06) + 0.4 * tone * _env(n, 0.04))


def _hat(rng, open_=False):
    n = int((0.2 if open_ else 0.05) * RATE)
    noise = np.diff(rng.standard_normal(n + 2), 2)
    return 0.15 * noise * _env(n, 0.06 if open_ else 0.012)


def _note(freq, dur, harmonics=(1.0, 0.5, 0.33), decay=0.3):
    n = int(dur * RATE)
    t = np.arange(n) / RATE
    out = sum(a * np.sin(2 * np.pi * freq * (h + 1) * t) for h, a in enumerate(harmonics))
    attack = np.minimum(1.0, t / 0.005)
    release = np.minimum(1.0, (dur - t) / 0.01)
    return out * attack * release * _env(n, decay)


def music(seconds, seed):
    """Mono float samples in [-1, 1] of a seeded beat at BPM."""
    rng = np.random.default_rng([seed, 7])
    beat = 60.0 / BPM
    buf = np.zeros(int(np.ceil(seconds * RATE)))
    prog = PROGRESSIONS[int(rng.integers(len(PROGRESSIONS)))]
    key = int(rng.integers(0, 5))
    kick, snare = _kick(), _snare(rng)
    n_beats = int(np.ceil(seconds / beat))
    melody_note = 0
    for k in range(n_beats):
        t0 = k * beat
        bar = k // 4
        root = 55.0 * 2 ** ((key + prog[bar % 4]) / 12)
        if k % 2 == 0 or rng.random() < 0.15:
            _add(buf, t0, 0.9 * kick)
        if k % 2 == 1:
            _add(buf, t0, 0.6 * snare)
        for e in range(2):  # eighths
            te = t0 + e * beat / 2
            _add(buf, te, _hat(rng, open_=(e == 1 and k % 4 == 3)))
            octave = 1 if (k * 2 + e) % 4 != 3 else 2
            _add(buf, te, 0.28 * _note(root * octave, beat / 2 * 0.95, decay=0.15))
            if rng.random() < 0.55:
                melody_note = int(np.clip(melody_note + rng.integers(-2, 3), 0, len(PENTATONIC) - 1))
                f = 220.0 * 2 ** ((key + PENTATONIC[melody_note]) / 12)
                _add(buf, te, 0.16 * _note(f, beat / 2 * 0.9, harmonics=(1.0, 0.2, 0.1), decay=0.2))
    fade = min(len(buf), int(0.05 * RATE))
    buf[len(buf) - fade:] *= np.linspace(1, 0, fade)
    return buf / max(1e-9, np.abs(buf).max()) * 0.85


def write_wav(path, samples):
    data = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(data.tobytes())
