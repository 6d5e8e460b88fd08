"""Name pools built once from Faker's locale lists, then drawn with `random` (fast, realistic distribution).

en_US lists carry frequencies (Smith is common, Zamora rare); other locales bring accents (José, Müller,
Hélène) the way a US clinic network's registry has them. Locales whose names are not in Latin script are left
out: name_search keeps a-z only, so they would not be searchable by name in this version of the product.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# locale -> share of patients
LOCALES = {"en_US": 0.72, "es_MX": 0.16, "fr_FR": 0.03, "de_DE": 0.03, "it_IT": 0.03, "pt_BR": 0.03}


@dataclass
class Pool:
    values: list[str]
    weights: list[float]

    def draw(self, rng: random.Random, k: int) -> list[str]:
        return rng.choices(self.values, cum_weights=self.weights, k=k)


def _pool(src) -> tuple[list[str], list[float]]:
    if isinstance(src, dict):
        vals, w = list(src.keys()), [float(x) for x in src.values()]
    else:
        vals = list(dict.fromkeys(src))
        # Zipf-like: a few surnames are common, most are rare (as in real registries).
        w = [1.0 / (i + 1) ** 0.8 for i in range(len(vals))]
    return vals, w


def _cumulative(w: list[float]) -> list[float]:
    out, s = [], 0.0
    for x in w:
        s += x
        out.append(s)
    return out


class NamePools:
    """family(rng, k) / given(rng, sex, k): names drawn across locales by their share."""

    def __init__(self):
        from faker import Faker

        self.locales = list(LOCALES)
        self.locale_cum = _cumulative(list(LOCALES.values()))
        self.family: dict[str, Pool] = {}
        self.female: dict[str, Pool] = {}
        self.male: dict[str, Pool] = {}
        for loc in self.locales:
            person = next(p for p in Faker(loc).get_providers() if "person" in type(p).__module__)
            for attr, target in (
                ("last_names", self.family),
                ("first_names_female", self.female),
                ("first_names_male", self.male),
            ):
                # es_MX has one list of given names for both sexes (Faker >= 30): use it for both.
                vals, w = _pool(getattr(person, attr, None) or person.first_names)
                target[loc] = Pool(vals, _cumulative(w))

    def draw(self, rng: random.Random, sexes: list[str]) -> list[tuple[str, str, str]]:
        """(given, middle, family) per sex in `sexes`."""
        locs = rng.choices(self.locales, cum_weights=self.locale_cum, k=len(sexes))
        out = []
        for loc, sex in zip(locs, sexes, strict=True):
            given_pool = self.female[loc] if sex == "F" else self.male[loc]
            given = given_pool.draw(rng, 1)[0]
            middle = given_pool.draw(rng, 1)[0] if rng.random() < 0.3 else ""
            family = self.family[loc].draw(rng, 1)[0]
            if rng.random() < 0.05:  # hyphenated / double surnames
                family = f"{family}-{self.family[loc].draw(rng, 1)[0]}"
            out.append((given, middle, family))
        return out
