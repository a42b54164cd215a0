"""A small user-style table for the tests of data files: numeric and categorical
features, three treatment labels given as strings, a continuous and a 0/1 outcome."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

TREATMENTS = ("control", "email", "sms")


def events_frame(n_rows: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.normal(40, 10, n_rows)
    visits = rng.poisson(3, n_rows)
    city = rng.choice(["berlin", "paris", "rome"], n_rows)
    treatment = np.array(TREATMENTS)[np.arange(n_rows) % 3]
    effect = np.where(treatment == "email", 1.0, np.where(treatment == "sms", 0.5, 0.0))
    y = 0.05 * age + 0.3 * visits + (city == "rome") + effect + rng.normal(0, 1, n_rows)
    return pd.DataFrame(
        {
            "age": age,
            "visits": visits,
            "city": pd.Categorical(city),
            "y": y,
            "converted": (y > np.median(y)).astype(int),
            "arm": treatment,
        }
    )


def write_events(path: Path, n_rows: int = 400, seed: int = 0) -> Path:
    """The table as CSV (``.csv``, ``.csv.zip``) or Parquet (``.parquet``)."""
    frame = events_frame(n_rows, seed)
    if path.name.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path
