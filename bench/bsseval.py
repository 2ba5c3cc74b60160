"""BSSEval v4 as the SiSEC 2018 / MUSDB18 tables compute it: museval's `bss_eval` on 1-second
windows with time-invariant distortion filters (512 taps) over the whole track, the stereo
stems treated as images; a track's figure is the median over its windows, a method's the
median over tracks.

Why museval and not fast_bss_eval: published separation figures (Demucs, the RoFormer family,
MDX) are museval's v4 numbers; fast_bss_eval computes `bss_eval_sources` channel by channel,
not the stereo image metrics, so its figures are not comparable with those tables. The cost
is speed (see `Evaluator`).

museval's package `__init__` imports musdb, which imports stempeg, which refuses to load
without an ffmpeg binary; the metrics module itself needs only numpy and scipy, so it is
loaded from its file.
"""

from __future__ import annotations

import importlib.util
import math
from functools import cache
from pathlib import Path
from types import ModuleType

import numpy as np
import scipy.fft
import scipy.linalg

WINDOW_S = 1.0
FILTERS_LEN = 512


@cache
def _metrics() -> ModuleType:
    spec = importlib.util.find_spec("museval")
    if spec is None or spec.origin is None:
        raise RuntimeError("museval is not installed (uv sync installs it with the dev group)")
    path = Path(spec.origin).parent / "metrics.py"
    module_spec = importlib.util.spec_from_file_location("museval_metrics", path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


class _Factor:
    """museval solves `(G + eps·I) x = d`; G is a Gram matrix, so Cholesky (LU if rounding
    leaves it not quite positive definite), factorised once."""

    def __init__(self, gram: np.ndarray) -> None:
        system = gram + np.finfo(float).eps * np.eye(gram.shape[0])
        self.cholesky: tuple[np.ndarray, bool] | None = None
        self.lu: tuple[np.ndarray, np.ndarray] | None = None
        try:
            self.cholesky = scipy.linalg.cho_factor(system)
        except np.linalg.LinAlgError:
            self.lu = scipy.linalg.lu_factor(system)

    def solve(self, d: np.ndarray) -> np.ndarray:
        if self.cholesky is not None:
            return np.asarray(scipy.linalg.cho_solve(self.cholesky, d))
        assert self.lu is not None
        return np.asarray(scipy.linalg.lu_solve(self.lu, d))


class Evaluator:
    """BSSEval v4 of any number of estimates against one track's references.

    museval's `bss_eval` computes every correlation with complex FFTs and solves the
    reference system (sources × channels × 512 taps: 4096 unknowns for four stereo stems)
    once per estimated source and per call. Here the correlations are real FFTs and the system
    is factorised once per track, then reused for every source and every separator: several
    times faster, the same figures to rounding (tests/bench checks them against `bss_eval`).
    The per-window projections, decomposition and criteria are museval's own functions."""

    def __init__(self, references: np.ndarray, sample_rate: int) -> None:
        m = _metrics()
        self.references = np.asarray(references, dtype=np.float64)  # [sources, frames, ch]
        m.validate(self.references, self.references)
        nsrc, nsampl, nchan = self.references.shape
        self.window = int(WINDOW_S * sample_rate)
        self.n_fft = int(2 ** np.ceil(np.log2(nsampl + FILTERS_LEN - 1.0)))
        # [sources × channels, bins]: one row per reference channel.
        self.spectra = scipy.fft.rfft(
            np.moveaxis(self.references, 1, 2).reshape(nsrc * nchan, nsampl), n=self.n_fft
        )
        rows = nsrc * nchan
        gram = np.zeros((nsrc, nsrc, nchan, nchan, FILTERS_LEN, FILTERS_LEN))
        for a in range(rows):
            products = self.spectra[a:] * np.conj(self.spectra[a])
            lags = scipy.fft.irfft(products, n=self.n_fft, workers=-1)
            i, c1 = divmod(a, nchan)
            for b, ssf in enumerate(lags, start=a):
                j, c2 = divmod(b, nchan)
                ss = scipy.linalg.toeplitz(
                    np.hstack((ssf[0], ssf[-1:-FILTERS_LEN:-1])), r=ssf[:FILTERS_LEN]
                )
                gram[j, i, c2, c1] = ss
                gram[i, j, c1, c2] = ss.T
        self.all = _Factor(m._reshape_G(gram))
        self.own = [_Factor(m._reshape_G(gram[j, j][None, None])) for j in range(nsrc)]

    def _filters(self, estimate: np.ndarray, j: int) -> tuple[np.ndarray, np.ndarray]:
        """museval's projection filters of one estimated source: on every reference (on_all) and
        on reference `j` alone (on_own)."""
        nchan = estimate.shape[1]
        nsrc = len(self.own)
        spectra = scipy.fft.rfft(estimate.T, n=self.n_fft)  # [channels, bins]
        products = self.spectra[:, None, :] * np.conj(spectra)[None, :, :]
        lags = scipy.fft.irfft(products, n=self.n_fft, workers=-1)  # [src×ch, ch, n_fft]
        head = np.concatenate(
            (lags[..., :1], lags[..., -1:-FILTERS_LEN:-1]), axis=-1
        )  # [src×ch, ch, taps]
        cross = np.moveaxis(head.reshape(nsrc, nchan, nchan, FILTERS_LEN), 3, 2)  # [s, cj, t, c]
        on_all = self.all.solve(cross.reshape(nsrc * nchan * FILTERS_LEN, nchan))
        on_own = self.own[j].solve(cross[j].reshape(nchan * FILTERS_LEN, nchan))
        shape = (nchan, FILTERS_LEN, nchan)
        return on_all.reshape(nsrc, *shape), on_own.reshape(shape)

    def framewise(self, estimates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(SDR, SIR) per source and 1-s window, each [sources, windows]; a window where a
        reference or an estimate is silent is NaN (museval's rule)."""
        m = _metrics()
        refs = self.references
        est = np.asarray(estimates, dtype=np.float64)
        m.validate(refs, est)
        nsrc, nsampl, _ = est.shape
        filters = [self._filters(est[j], j) for j in range(nsrc)]
        framer = m.Framing(self.window, self.window, nsampl)
        sdr = np.full((nsrc, framer.nwin), np.nan)
        sir = np.full((nsrc, framer.nwin), np.nan)
        for t, win in enumerate(framer):
            if m._any_source_silent(refs[:, win]) or m._any_source_silent(est[:, win]):
                continue
            for j, (on_all, on_own) in enumerate(filters):
                parts = m._bss_decomp_mtifilt(refs[:, win], est[j, win], j, on_all, on_own)
                sdr[j, t], _isr, sir[j, t], _sar = m._bss_crit(*parts, False)
        return sdr, sir

    def scores(self, estimates: np.ndarray) -> dict[str, list[float]]:
        """{"sdr": [one per source], "sir": [...]}: medians over the track's windows."""
        sdr, sir = self.framewise(estimates)
        return {"sdr": _medians(sdr), "sir": _medians(sir)}


def museval_framewise(
    references: np.ndarray, estimates: np.ndarray, sample_rate: int
) -> tuple[np.ndarray, np.ndarray]:
    """museval's own `bss_eval` with SiSEC's v4 settings (slower; what `Evaluator` matches)."""
    window = int(WINDOW_S * sample_rate)
    sdr, _isr, sir, _sar, _perm = _metrics().bss_eval(
        np.asarray(references, dtype=np.float64),
        np.asarray(estimates, dtype=np.float64),
        window=window,
        hop=window,
        compute_permutation=False,
        filters_len=FILTERS_LEN,
        framewise_filters=False,
        bsseval_sources_version=False,
    )
    return np.asarray(sdr, dtype=np.float64), np.asarray(sir, dtype=np.float64)


def _medians(values: np.ndarray) -> list[float]:
    out = []
    for row in values:
        finite = row[~np.isnan(row)]
        out.append(float(np.median(finite)) if finite.size else math.nan)
    return out
