"""A user-style table: 16k rows, 18 numeric + 2 categorical features, string treatment labels."""
import numpy as np, pandas as pd
rng = np.random.default_rng(7)
n = 16_000
X = rng.normal(size=(n, 18))
df = pd.DataFrame(X, columns=[f"x{i}" for i in range(18)])
df["region"] = pd.Categorical(rng.choice(["north", "south", "east", "west"], n))
df["channel"] = pd.Categorical(rng.choice(["web", "app", "store"], n))
w = rng.integers(0, 2, n)
tau = 1.0 + X[:, 0] + 0.5 * (df["region"] == "north")
df["y"] = X[:, 1] + np.sin(X[:, 2]) + w * tau + rng.normal(size=n)
df["arm"] = np.where(w == 1, "promo", "control")
df.to_parquet("events.parquet")
print(df.shape)
