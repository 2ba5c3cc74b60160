"""Which models this worker can run: Demucs (through demucs's own code) and RoFormer.

A named model (`htdemucs`, `htdemucs_ft`, `htdemucs_6s`, `mdx_extra`, …) is a bag: a YAML
file listing checkpoint signatures (demucs ships these under `demucs/remote/`; the operator
may add their own next to the checkpoints). Checkpoints are `<signature>-<checksum>.th`
files in the model directory (MODEL_DIR) or in torch hub's cache, where an online machine
downloads them. A name is available when every checkpoint it lists is present. Loading uses
demucs's repositories (`LocalRepo`, `BagOnlyRepo`, `AnyModelRepo`), so checksums are checked
and checkpoints are read exactly as `demucs -n NAME --repo DIR` would.

A RoFormer model is a `<name>.ckpt` with its config `<name>.yaml` beside it in the model
directory (`roformer.py`); a YAML file with `model:` and `audio:` sections is such a config,
never a bag.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml
from demucs.apply import BagOfModels
from demucs.pretrained import REMOTE_ROOT
from demucs.repo import AnyModelRepo, BagOnlyRepo, LocalRepo, ModelLoadingError, ModelOnlyRepo

from cadenza.contracts.separation import CLASSICAL_INFO, ModelInfo
from cadenza.separation.roformer import (
    is_roformer_config,
    load_roformer,
    model_cost,
    read_config,
)

log = logging.getLogger(__name__)

DESCRIPTIONS: dict[str, str] = {
    "htdemucs": "Hybrid Transformer Demucs v4: drums, bass, other, vocals",
    "htdemucs_ft": "htdemucs fine-tuned per source: 4 models, about 4x slower, a little better",
    "htdemucs_6s": "Hybrid Transformer Demucs with guitar and piano (piano is weak)",
    "mdx_extra": "Demucs v3 bag trained with extra data (MDX 2021 challenge)",
}
KNOWN = tuple(DESCRIPTIONS)

CLASSICAL = CLASSICAL_INFO


class ModelUnavailableError(LookupError):
    pass


class _Repos(ModelOnlyRepo):
    """Several directories of checkpoints seen as one demucs repository."""

    def __init__(self, roots: Sequence[Path]) -> None:
        self.repos = [LocalRepo(root) for root in roots if root.is_dir()]

    def has_model(self, sig: str) -> bool:
        return any(repo.has_model(sig) for repo in self.repos)

    def get_model(self, sig: str) -> Any:
        for repo in self.repos:
            if repo.has_model(sig):
                return repo.get_model(sig)
        raise ModelLoadingError(f"no checkpoint with signature {sig}")

    def list_model(self) -> dict[str, str | Path]:
        found: dict[str, str | Path] = {}
        for repo in reversed(self.repos):
            found.update(repo.list_model())
        return found


def _bag_files(roots: Sequence[Path]) -> dict[str, Path]:
    """Bag definitions: demucs's own, overridden by any the operator put in the model dir."""
    bags = {path.stem: path for path in REMOTE_ROOT.glob("*.yaml")}
    for root in roots:
        if root.is_dir():
            bags.update(
                {path.stem: path for path in root.glob("*.yaml") if not is_roformer_config(path)}
            )
    return bags


def _roformer_files(roots: Sequence[Path]) -> dict[str, list[Path]]:
    """RoFormer models by name: a checkpoint with its config beside it."""
    found: dict[str, list[Path]] = {}
    for root in roots:
        if not root.is_dir():
            continue
        for checkpoint in sorted(root.glob("*.ckpt")):
            config = checkpoint.with_suffix(".yaml")
            if checkpoint.stem not in found and config.is_file() and is_roformer_config(config):
                found[checkpoint.stem] = [checkpoint, config]
    return found


class _Bags(BagOnlyRepo):
    """demucs's bag repository over several folders (demucs scans one)."""

    def __init__(self, roots: Sequence[Path], model_repo: ModelOnlyRepo) -> None:
        self.roots = roots
        super().__init__(REMOTE_ROOT, model_repo)

    def scan(self) -> None:
        self._bags = _bag_files(self.roots)


@dataclass(frozen=True)
class Catalog:
    """A snapshot of what the model directories hold."""

    roots: tuple[Path, ...]

    @classmethod
    def from_settings(cls, model_dir: Path, use_hub_cache: bool) -> Catalog:
        roots = [model_dir]
        if use_hub_cache:
            roots.append(Path(torch.hub.get_dir()) / "checkpoints")
        return cls(tuple(roots))

    def _checkpoints(self) -> dict[str, str | Path]:
        return _Repos(self.roots).list_model()

    def signatures(self, name: str) -> list[str] | None:
        """Checkpoint signatures behind `name`, or None if it names nothing known."""
        checkpoints = self._checkpoints()
        if name in checkpoints:
            return [name]
        bag = _bag_files(self.roots).get(name)
        if bag is None:
            return None
        models = yaml.safe_load(bag.read_text()).get("models", [])
        return [str(sig) for sig in models]

    def available(self) -> dict[str, list[Path]]:
        """Name → checkpoint files, for every name whose checkpoints are all present."""
        checkpoints = self._checkpoints()
        bags = _bag_files(self.roots)
        members = {
            str(sig)
            for path in bags.values()
            for sig in yaml.safe_load(path.read_text()).get("models", [])
        }
        # Bags by name; a checkpoint by itself only when no bag uses it.
        names = set(KNOWN) | set(bags) | (set(checkpoints) - members)
        found: dict[str, list[Path]] = {}
        for name in sorted(names):
            sigs = self.signatures(name)
            if sigs and all(sig in checkpoints for sig in sigs):
                found[name] = [Path(checkpoints[sig]) for sig in sigs]
        for name, files in _roformer_files(self.roots).items():
            found.setdefault(name, files)  # a Demucs model of the same name comes first
        return found

    def fingerprint(self, name: str, files: list[Path]) -> str:
        """Changes when a checkpoint or the bag definition changes (cheap: file stats)."""
        digest = hashlib.sha256(name.encode())
        for path in files:
            stat = path.stat()
            digest.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
        bag = _bag_files(self.roots).get(name)
        if bag is not None:
            digest.update(bag.read_bytes())
        return digest.hexdigest()[:16]

    def info(self, name: str, files: list[Path]) -> ModelInfo:
        """Describe a model from its first checkpoint (or its config), without building it."""
        if files[0].suffix == ".ckpt":
            config = read_config(files[1])
            kind = "Mel-Band RoFormer" if config.family == "mel_band_roformer" else "BS-RoFormer"
            return ModelInfo(
                name=name,
                family=config.family,
                stems=config.stems,
                sample_rate=config.sample_rate,
                description=f"{kind}: {', '.join(config.stems)}",
                fingerprint=self.fingerprint(name, files),
                overlap=round(config.default_overlap, 4),
                cost=float(f"{max(model_cost(config), 1e-6):.3g}"),
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            package = torch.load(files[0], "cpu", weights_only=False)
        kwargs = package.get("kwargs", {})
        return ModelInfo(
            name=name,
            family="demucs",
            stems=tuple(kwargs.get("sources", ())),
            sample_rate=int(kwargs.get("samplerate", 44100)),
            description=DESCRIPTIONS.get(name, f"Demucs model {name}"),
            fingerprint=self.fingerprint(name, files),
            cost=float(len(files)),  # one htdemucs-sized pass per model of the bag
        )

    def load(self, name: str) -> BagOfModels | torch.nn.Module:
        files = self.available().get(name)
        if files and files[0].suffix == ".ckpt":
            checkpoint, config = files
            return load_roformer(checkpoint, read_config(config))
        model_repo = _Repos(self.roots)
        repo = AnyModelRepo(model_repo, _Bags(self.roots, model_repo))
        if not repo.has_model(name):
            raise ModelUnavailableError(name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = repo.get_model(name)
        model.eval()
        return model


class ModelBook:
    """What this worker advertises: the classical method plus every available Demucs model.
    `refresh` rescans the directories; unchanged models are not read again."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.models: dict[str, ModelInfo] = {CLASSICAL.name: CLASSICAL}

    def refresh(self) -> dict[str, ModelInfo]:
        found = {CLASSICAL.name: CLASSICAL}
        for name, files in self.catalog.available().items():
            try:
                fingerprint = self.catalog.fingerprint(name, files)
                known = self.models.get(name)
                found[name] = (
                    known
                    if known and known.fingerprint == fingerprint
                    else self.catalog.info(name, files)
                )
            except Exception:  # one unreadable checkpoint must not hide the others
                log.warning("cannot read model %s", name, exc_info=True)
        self.models = found
        return found


class LoadedModels:
    """Models kept in memory (least recently used dropped first), on the worker's device."""

    def __init__(self, catalog: Catalog, device: torch.device, capacity: int) -> None:
        self.catalog = catalog
        self.device = device
        self.capacity = capacity
        self._models: OrderedDict[str, BagOfModels | torch.nn.Module] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, name: str) -> BagOfModels | torch.nn.Module:
        with self._lock:
            if name in self._models:
                self._models.move_to_end(name)
                return self._models[name]
            model = self.catalog.load(name).to(self.device)
            self._models[name] = model
            while len(self._models) > self.capacity:
                evicted, _ = self._models.popitem(last=False)
                log.info("unloaded model %s", evicted)
            log.info("loaded model %s on %s", name, self.device)
            return model
