"""The score of a synthetic test song: phrases, notes, vowels, vibrato and the exact F0 contour.

:func:`compose` draws a melody from a seeded generator; the :class:`Score` then answers, for
any time in seconds, the F0 the voice is synthesised with, its amplitude envelope and the
vowel formants. Times are float64 seconds; everything is vectorised over time arrays, so the
renderer in :mod:`avbench.audio.synth` and the frame labels read the same function.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Phrase edges fade in/out over this long; frames centred in a fade are labelled unvoiced so
# "voiced" always means "the voice is at full level here".
EDGE_RAMP_S = 0.010
# Vibrato grows from nothing over the first part of each phrase, as singers do.
VIBRATO_ONSET_S = 0.25
# Singing range (MIDI 51..70 = 155.6..466.2 Hz) before vibrato.
VOICE_MIDI_RANGE = (51, 70)
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)

# Formant centre frequencies (Hz), bandwidths (Hz) and levels (dB) of five sung vowels,
# after the classic soprano/alto formant tables.
VOWELS = ("a", "e", "i", "o", "u")
FORMANT_HZ = np.array(
    [
        [800.0, 1150.0, 2800.0, 3500.0],
        [400.0, 1600.0, 2700.0, 3300.0],
        [350.0, 1700.0, 2700.0, 3700.0],
        [450.0, 800.0, 2830.0, 3500.0],
        [325.0, 700.0, 2530.0, 3500.0],
    ]
)
FORMANT_BANDWIDTH_HZ = np.array(
    [
        [80.0, 90.0, 120.0, 130.0],
        [60.0, 80.0, 120.0, 150.0],
        [50.0, 100.0, 120.0, 150.0],
        [70.0, 80.0, 100.0, 130.0],
        [50.0, 60.0, 170.0, 180.0],
    ]
)
FORMANT_LEVEL_DB = np.array(
    [
        [0.0, -4.0, -20.0, -28.0],
        [0.0, -12.0, -9.0, -16.0],
        [0.0, -20.0, -18.0, -22.0],
        [0.0, -9.0, -16.0, -28.0],
        [0.0, -12.0, -30.0, -40.0],
    ]
)


def smoothstep(x: np.ndarray) -> np.ndarray:
    """Raised-cosine ramp: 0 for x <= 0, 1 for x >= 1, smooth (C1) in between."""
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(x, 0.0, 1.0))


def midi_to_hz(midi: np.ndarray | float) -> np.ndarray:
    """Equal-tempered MIDI note number (may be fractional) to Hz, A4 = 69 = 440 Hz."""
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=np.float64) - 69.0) / 12.0)


@dataclass(frozen=True)
class Score:
    """Notes and phrases of one song. Per-note arrays have shape ``(n_notes,)``.

    A note glides (raised-cosine in pitch, vowel and loudness) from the previous note of its
    phrase over its first ``note_glide_s`` seconds. Per-phrase arrays have shape
    ``(n_phrases,)``; vibrato is a sinusoid in cents with a per-phrase rate, depth and phase.
    """

    tempo_bpm: float
    key: int
    note_start_s: np.ndarray
    note_midi: np.ndarray
    note_vowel: np.ndarray
    note_gain: np.ndarray
    note_glide_s: np.ndarray
    note_phrase: np.ndarray
    phrase_start_s: np.ndarray
    phrase_end_s: np.ndarray
    vibrato_rate_hz: np.ndarray
    vibrato_depth_cents: np.ndarray
    vibrato_phase: np.ndarray

    def _note_values(self, t_s: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Per-note ``values`` (n_notes, ...) at times ``t_s`` with the glide into each note."""
        idx = np.clip(np.searchsorted(self.note_start_s, t_s, side="right") - 1, 0, None)
        prev = np.maximum(idx - 1, 0)
        legato = (idx > 0) & (self.note_phrase[prev] == self.note_phrase[idx])
        weight = np.where(
            legato, smoothstep((t_s - self.note_start_s[idx]) / self.note_glide_s[idx]), 1.0
        )
        extra = (slice(None),) + (None,) * (values.ndim - 1)
        return values[prev] + (values[idx] - values[prev]) * weight[extra]

    def _phrase_index(self, t_s: np.ndarray) -> np.ndarray:
        return np.clip(np.searchsorted(self.phrase_start_s, t_s, side="right") - 1, 0, None)

    def f0_hz(self, t_s: np.ndarray) -> np.ndarray:
        """Instantaneous F0 (Hz, float64) of the voice at ``t_s``; defined everywhere."""
        cents = 100.0 * self._note_values(t_s, self.note_midi)
        p = self._phrase_index(t_s)
        since_onset = t_s - self.phrase_start_s[p]
        depth = self.vibrato_depth_cents[p] * smoothstep(since_onset / VIBRATO_ONSET_S)
        cents = cents + depth * np.sin(
            2 * np.pi * self.vibrato_rate_hz[p] * since_onset + self.vibrato_phase[p]
        )
        return midi_to_hz(cents / 100.0)

    def envelope(self, t_s: np.ndarray) -> np.ndarray:
        """Voice amplitude in [0, 1] at ``t_s``: phrase fades times the gliding note gain."""
        p = self._phrase_index(t_s)
        fade = smoothstep((t_s - self.phrase_start_s[p]) / EDGE_RAMP_S) * smoothstep(
            (self.phrase_end_s[p] - t_s) / EDGE_RAMP_S
        )
        return fade * self._note_values(t_s, self.note_gain)

    def voiced(self, t_s: np.ndarray) -> np.ndarray:
        """True where the voice is at full phrase level (inside a phrase, outside its fades)."""
        p = self._phrase_index(t_s)
        return (t_s >= self.phrase_start_s[p] + EDGE_RAMP_S) & (
            t_s <= self.phrase_end_s[p] - EDGE_RAMP_S
        )

    def formants(self, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Formant centre Hz, bandwidth Hz and linear level, each ``(len(t_s), 4)``."""
        vowel = self.note_vowel
        return (
            self._note_values(t_s, FORMANT_HZ[vowel]),
            self._note_values(t_s, FORMANT_BANDWIDTH_HZ[vowel]),
            self._note_values(t_s, 10.0 ** (FORMANT_LEVEL_DB[vowel] / 20.0)),
        )


def compose(duration_s: float, rng: np.random.Generator) -> Score:
    """Draw a song: phrases of 1.5-3.5 s separated by 0.25-0.7 s gaps, notes of 0.3-0.8 s.

    The melody walks a major scale in :data:`VOICE_MIDI_RANGE` mostly by steps; each note
    but a phrase's first glides in over 40-90 ms; vibrato is 5-6 Hz, +-30-50 cents. The
    lead-in silence shrinks for songs under 4 s so short clips still contain singing.
    """
    tempo_bpm = float(rng.uniform(90.0, 130.0))
    key = int(rng.integers(0, 12))
    lo, hi = VOICE_MIDI_RANGE
    scale = [m for m in range(lo, hi + 1) if (m - key) % 12 in MAJOR_SCALE]
    position = len(scale) // 2
    last_end = duration_s - 0.05  # keep the final fade-out inside the signal
    notes: list[tuple[float, int, int, float, float, int]] = []
    phrases: list[tuple[float, float]] = []
    t = float(rng.uniform(0.15, 0.4)) * min(1.0, duration_s / 4.0)
    while t + 0.15 < last_end:
        phrase_start = t
        phrase_stop = t + float(rng.uniform(1.5, 3.5))
        first = True
        while t < min(phrase_stop, last_end - 0.1):
            # Mostly stepwise motion, reflected at the ends of the range.
            position += int(rng.choice([-2, -1, -1, 0, 1, 1, 2]))
            position = abs(position) if position < 0 else position
            position = 2 * (len(scale) - 1) - position if position >= len(scale) else position
            glide_s = 1e-3 if first else float(rng.uniform(0.04, 0.09))
            vowel = int(rng.integers(0, len(VOWELS)))
            gain = float(rng.uniform(0.75, 1.0))
            notes.append((t, scale[position], vowel, gain, glide_s, len(phrases)))
            t = min(t + float(rng.uniform(0.3, 0.8)), last_end)
            first = False
        phrases.append((phrase_start, t))
        t += float(rng.uniform(0.25, 0.7))
    n_phrases = len(phrases)
    if not notes:  # too short for a phrase: a silent score with one placeholder note
        notes.append((0.0, scale[position], 0, 1.0, 1e-3, 0))
        phrases.append((-1.0, -1.0))
        n_phrases = 1
    columns = list(zip(*notes, strict=True))
    return Score(
        tempo_bpm=tempo_bpm,
        key=key,
        note_start_s=np.array(columns[0], dtype=np.float64),
        note_midi=np.array(columns[1], dtype=np.float64),
        note_vowel=np.array(columns[2], dtype=np.int64),
        note_gain=np.array(columns[3], dtype=np.float64),
        note_glide_s=np.array(columns[4], dtype=np.float64),
        note_phrase=np.array(columns[5], dtype=np.int64),
        phrase_start_s=np.array([p[0] for p in phrases], dtype=np.float64),
        phrase_end_s=np.array([p[1] for p in phrases], dtype=np.float64),
        vibrato_rate_hz=rng.uniform(5.0, 6.0, n_phrases),
        vibrato_depth_cents=rng.uniform(30.0, 50.0, n_phrases),
        vibrato_phase=rng.uniform(0.0, 2 * np.pi, n_phrases),
    )
