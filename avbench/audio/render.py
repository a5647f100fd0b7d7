"""Render the stems of a synthetic song from its :class:`~avbench.audio.score.Score`.

All rendering is float64 numpy driven by one seeded generator, so output is deterministic.
Sources that live on short spans (chords per bar, drum hits, breaths) are rendered on those
spans only, so cost grows linearly with the song length.
"""

from __future__ import annotations

import numpy as np

from avbench.audio.score import Score, smoothstep

VOICE_HARMONICS = 30
_CONTROL_HOP = 32  # samples between amplitude control points (amplitudes vary slowly)


def _span(start_s: float, stop_s: float, sample_rate: int, n: int) -> slice:
    """Sample indices covering [start_s, stop_s), clipped to the signal."""
    lo = min(max(int(np.floor(start_s * sample_rate)), 0), n)
    hi = min(max(int(np.ceil(stop_s * sample_rate)), lo), n)
    return slice(lo, hi)


def bandpass_noise(
    rng: np.random.Generator, n: int, lo_hz: float, hi_hz: float, sample_rate: int
) -> np.ndarray:
    """Unit-RMS white noise band-limited to [lo_hz, hi_hz] (squeezed below Nyquist)."""
    from scipy import signal  # lazy: scipy.signal takes ~0.7 s to import

    hi_hz = min(hi_hz, 0.45 * sample_rate)
    lo_hz = min(lo_hz, 0.5 * hi_hz)
    sos = signal.butter(2, [lo_hz, hi_hz], btype="bandpass", fs=sample_rate, output="sos")
    noise = signal.sosfilt(sos, rng.standard_normal(n))
    return noise / max(float(np.sqrt(np.mean(noise**2))), 1e-12)


def render_voice(
    score: Score, f0_hz: np.ndarray, sample_rate: int, rng: np.random.Generator
) -> np.ndarray:
    """Voice stem ``(samples,)`` float64: harmonics (unit RMS while sounding) + noise.

    ``f0_hz`` is the per-sample F0 from ``score.f0_hz``; the phase advances by
    ``2*pi*f0[k]/sr`` from sample ``k`` to ``k+1``, so ``f0[k]`` is the exact instantaneous
    frequency at sample ``k`` and pitch changes never click.
    """
    n = len(f0_hz)
    phase = 2 * np.pi * np.concatenate(([0.0], np.cumsum(f0_hz[:-1]))) / sample_rate
    control_t = np.arange(0, n + _CONTROL_HOP, _CONTROL_HOP) / sample_rate
    centre_hz, bandwidth_hz, level = score.formants(control_t)
    control_f0 = score.f0_hz(control_t)
    position = np.arange(n) / _CONTROL_HOP
    below = position.astype(np.int64)
    frac = position - below
    start_phase = rng.uniform(0.0, 2 * np.pi, VOICE_HARMONICS)
    voice = np.zeros(n)
    for h in range(1, VOICE_HARMONICS + 1):
        freq = h * control_f0
        # Formant resonances on a -12 dB/octave (glottal-like) source; fade out between 0.40
        # and 0.45 * sr so no harmonic ever reaches Nyquist, whatever the rate and vibrato.
        resonance = level / np.sqrt(1.0 + ((freq[:, None] - centre_hz) / (bandwidth_hz / 2)) ** 2)
        amp = (resonance.sum(axis=1) + 0.02) / h**2
        amp *= np.clip((0.45 * sample_rate - freq) / (0.05 * sample_rate), 0.0, 1.0)
        if not amp.any():
            continue
        amp_per_sample = amp[below] + (amp[below + 1] - amp[below]) * frac
        voice += amp_per_sample * np.sin(h * phase + start_phase[h - 1])
    t_s = np.arange(n) / sample_rate
    envelope = score.envelope(t_s)
    voice *= envelope
    sounding = envelope > 0.5
    voice /= max(float(np.sqrt(np.mean(voice[sounding] ** 2))) if sounding.any() else 0.0, 1e-12)
    # Aspiration rides on the voice at -30 dB; inhalations are 0.2 s noise swells ending 50 ms
    # before each phrase, at -26 dB. Both stay in the vocal stem and are unvoiced.
    voice += 0.03 * envelope * bandpass_noise(rng, n, 1500.0, 6000.0, sample_rate)
    breath_noise = bandpass_noise(rng, n, 700.0, 3500.0, sample_rate)
    for start_s in score.phrase_start_s:
        span = _span(start_s - 0.25, start_s - 0.05, sample_rate, n)
        swell = np.sin(np.pi * (t_s[span] - (start_s - 0.25)) / 0.2) ** 2
        voice[span] += 0.05 * swell * breath_noise[span]
    return voice


def render_accompaniment(
    score: Score, n: int, sample_rate: int, rng: np.random.Generator
) -> np.ndarray:
    """Accompaniment ``(samples,)`` float64: I-V-vi-IV chords, kick on 1 and 3, off-beat hats.

    Chord tones sit at MIDI 40..63 (82..311 Hz), overlapping the voice's range as real
    accompaniment does. Returned unnormalised; the caller sets the vocal-to-backing ratio.
    """
    t_s = np.arange(n) / sample_rate
    beat_s = 60.0 / score.tempo_bpm
    bar_s = 4 * beat_s
    chords = np.zeros(n)
    for bar in range(int(np.ceil(n / sample_rate / bar_s))):
        span = _span(bar * bar_s, (bar + 1) * bar_s, sample_rate, n)
        local = t_s[span] - bar * bar_s
        envelope = smoothstep(local / 0.03) * smoothstep((bar_s - local) / 0.06)
        root_offset, third = ((0, 4), (7, 4), (9, 3), (5, 4))[bar % 4]
        root = 40 + (score.key + root_offset) % 12
        for tone in (root, root + third, root + 7, root + 12):
            freq = 440.0 * 2 ** ((tone - 69) / 12)
            for h in range(1, 6):
                if h * freq < 0.45 * sample_rate:
                    chords[span] += envelope * np.sin(2 * np.pi * h * freq * local) / h**2
    chords /= max(float(np.sqrt(np.mean(chords**2))), 1e-12)

    hat_noise = bandpass_noise(rng, n, 6000.0, 12000.0, sample_rate)
    drums = np.zeros(n)
    for beat in range(int(np.ceil(n / sample_rate / beat_s))):
        if beat % 2 == 0:  # kick: a sine dropping from 120 to 45 Hz, fast decay
            span = _span(beat * beat_s, beat * beat_s + 0.3, sample_rate, n)
            local = t_s[span] - beat * beat_s
            sweep_hz = 45.0 + 75.0 * np.exp(-local / 0.03)
            kick_phase = 2 * np.pi * np.cumsum(sweep_hz) / sample_rate
            drums[span] += 1.5 * np.exp(-local / 0.09) * np.sin(kick_phase)
        span = _span((beat + 0.5) * beat_s, (beat + 0.5) * beat_s + 0.08, sample_rate, n)
        local = t_s[span] - (beat + 0.5) * beat_s
        drums[span] += 0.4 * np.exp(-local / 0.015) * hat_noise[span]
    return chords + drums
