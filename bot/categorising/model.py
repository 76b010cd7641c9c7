"""The category model at run time: load a model file, score an item, choose its categories.

The file (written by `bot.categorising.training`) holds a vocabulary of character n-grams with
their IDF weights, one linear weight per category and n-gram, a bias and a Platt calibration
per category, and metadata. Scoring is sublinear TF-IDF, L2-normalised, dotted with the
weights, calibrated to a probability: plain Python, no numpy, so the service needs no training
library. A file that is not such a model, or was made for other categories or features, is a
`ModelError` with a reason a person can act on.
"""

from __future__ import annotations

import json
import math
import operator
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from bot.categorising.features import SCHEME, SCHEMES, features

FORMAT = "digestbot-category-model"
VERSION = 1
BUILTIN = "builtin"  # the table's `model = "builtin"`: the file shipped in this package


class ModelError(ValueError):
    """A model file that cannot be used, as `file: reason`."""

    def __init__(self, source: str | Path, reason: str) -> None:
        self.source, self.reason = str(source), reason
        super().__init__(f"{source}: {reason}")


@dataclass(frozen=True)
class CategoryModel:
    """A loaded model: per n-gram its IDF and one weight per category, in `categories` order."""

    categories: tuple[str, ...]
    terms: dict[str, tuple[float, tuple[float, ...]]]
    bias: tuple[float, ...]
    calibration: tuple[tuple[float, float], ...]
    second_ratio: float  # a second category when its probability is at least this share of the
    min_probability: float  # best one's, and at least this much
    metadata: dict[str, object] = field(default_factory=dict)
    source: str = ""
    scheme: str = SCHEME  # the features it reads (`bot.categorising.features.SCHEMES`)

    def logits(self, title: str, summary: str) -> dict[str, float]:
        """Calibrated log-odds per category (before the sigmoid, so keyword nudges add)."""
        terms = self.terms
        # Counting every n-gram and looking up only the distinct ones is cheaper than one
        # lookup per n-gram; the sums run column by column in C (`map`, `sum`).
        counts = Counter(features(title, summary, self.scheme))
        found = [(terms[gram], n) for gram, n in counts.items() if gram in terms]
        if found:
            values = [idf * (1.0 + math.log(n)) for (idf, _), n in found]
            norm = math.sqrt(sum(v * v for v in values)) or 1.0
            values = [v / norm for v in values]
            columns = zip(*(weights for (_, weights), _ in found), strict=True)
            sums = [sum(map(operator.mul, column, values)) for column in columns]
        else:
            sums = [0.0] * len(self.categories)
        return {
            name: a * (bias + z) + b
            for name, z, bias, (a, b) in zip(
                self.categories, sums, self.bias, self.calibration, strict=True
            )
        }

    def probabilities(self, title: str, summary: str) -> dict[str, float]:
        """The calibrated probability of each category for one item."""
        return {name: sigmoid(z) for name, z in self.logits(title, summary).items()}

    def choose(self, probabilities: dict[str, float], among: Iterable[str]) -> tuple[str, ...]:
        """The best of `among`, and the second best when it is nearly as likely."""
        ranked = sorted(
            (name for name in among if name in probabilities),
            key=lambda name: -probabilities[name],
        )
        if not ranked:
            return ()
        chosen = [ranked[0]]
        if len(ranked) > 1:
            best, second = probabilities[ranked[0]], probabilities[ranked[1]]
            if second >= self.min_probability and second >= self.second_ratio * best:
                chosen.append(ranked[1])
        return tuple(chosen)


def sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def builtin_path() -> Path:
    """The model file shipped in the package."""
    return Path(str(resources.files("bot.categorising").joinpath("model.json")))


def load_model(path: Path) -> CategoryModel:
    """Read and check a model file; every problem is a `ModelError`."""
    try:
        data = json.loads(path.read_bytes())
    except OSError as error:
        raise ModelError(path, f"cannot read the model file ({error.strerror or error})") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise ModelError(path, f"not a model file: not JSON ({error})") from None
    return model_from_dict(data, path)


def model_from_dict(data: object, source: str | Path = "<model>") -> CategoryModel:
    """A `CategoryModel` from the parsed JSON of a model file, checked field by field."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ModelError(source, f'not a model file (no "format": "{FORMAT}")')
    if data.get("version") != VERSION:
        raise ModelError(
            source,
            f"model version {data.get('version')!r} is not supported (this digestbot reads "
            f"version {VERSION}); retrain with `digestbot categories train`",
        )
    scheme = data.get("features")
    if scheme not in SCHEMES:
        raise ModelError(
            source, f"features {scheme!r} are none this digestbot reads ({', '.join(SCHEMES)})"
        )
    try:
        categories = tuple(str(name) for name in data["categories"])
        k = len(categories)
        scale = float(data["weight_scale"])
        grams = data["terms"]
        idf = data["idf"]
        weights = data["weights"]
        if not (len(grams) == len(idf) and len(weights) == k * len(grams)):
            raise ModelError(source, "terms, idf and weights differ in length")
        terms = {
            str(gram): (
                float(idf[i]) * scale,
                tuple(float(w) * scale for w in weights[i * k : i * k + k]),
            )
            for i, gram in enumerate(grams)
        }
        bias = tuple(float(b) for b in data["bias"])
        calibration = tuple((float(a), float(b)) for a, b in data["calibration"])
        second_ratio = float(data["second_ratio"])
        min_probability = float(data["min_probability"])
        metadata = dict(data.get("metadata", {}))
    except ModelError:
        raise
    except (KeyError, TypeError, ValueError) as error:
        raise ModelError(source, f"broken model file ({type(error).__name__}: {error})") from None
    if not categories or len(set(categories)) != k:
        raise ModelError(source, "the model names no categories, or one twice")
    if len(bias) != k or len(calibration) != k:
        raise ModelError(source, "bias and calibration need one entry per category")
    return CategoryModel(
        categories=categories,
        terms=terms,
        bias=bias,
        calibration=calibration,
        second_ratio=second_ratio,
        min_probability=min_probability,
        metadata=metadata,
        source=str(source),
        scheme=str(scheme),
    )
