"""Synthetic device populations (issue #3): columnar, seeded, consistent, millions strong.

``Population.build(config=..., app=..., seed=...)`` draws every column of N devices in bulk from ONE
``numpy.random.default_rng(seed)``, in a fixed order, so a device's fields depend only on the seed,
the configuration and its global index; ``shard(index, count)`` only slices, so a distributed run
plays exactly the devices one process would. Faker, seeded per locale, builds small vocabularies
(names, streets) once; numpy samples indices into them. The population holds categorical codes and
raw UUID bytes (about 120 bytes a device), never dicts: ``device(i)`` and ``person(i)`` build the
dicts the payload builders need on demand, in a few microseconds (``make bench``: bench_population).

Consistency is by construction: a device's variant is a (model, OS build) row of the catalogue, so
the model fixes its screen, density, fingerprint and OS range, and its WebView user agent is
derived from the same row; locale, carrier and currency are drawn given the country, time zone,
postcode and phone range given the person's city. Synthetic people are never real: emails only on
reserved domains (RFC 2606/6761), phones only from fiction or unassignable ranges
(``catalog/phone_ranges.csv``), so a load test against a real account can never reach anyone.

Modules: ``config`` (the ``[app]`` and ``[population]`` options), ``tables`` (the catalogue as variants
and weight tables), ``people`` (vocabularies, alias sampling, person records) and ``model`` (``Population``).
"""

from __future__ import annotations

from simulator.population.config import PLATFORMS, AppConfig, PopulationConfig, Release
from simulator.population.model import BUILD_BYTES_PER_DEVICE, Population
from simulator.population.tables import NoDevicesOn

__all__ = [
    "BUILD_BYTES_PER_DEVICE",
    "PLATFORMS",
    "AppConfig",
    "NoDevicesOn",
    "Population",
    "PopulationConfig",
    "Release",
]
