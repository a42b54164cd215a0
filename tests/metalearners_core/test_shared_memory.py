"""A fit or a prediction on worker processes leaves no joblib memmapping folder behind (in /dev/shm or the temp folder).

joblib memory-maps every array over 1 MB it sends to a loky worker into a per-call
folder, and its clean-up at the end of the call gives up (after ~1 s of retries) while
a worker still maps a file: the folder outlived the call, and a process that ends
with ``os._exit`` (the harness's trial worker) never removed it: a sweep left one
folder per loky trial. Fits and predictions share their inputs themselves, in a folder
they remove, and joblib memory-maps nothing.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent("""
    import glob, json, os, sys, tempfile
    import joblib
    import numpy as np
    from lightgbm import LGBMRegressor
    from metalearners_core import TLearner, config_context

    rng = np.random.default_rng(0)
    X = rng.standard_normal((1000, 10))
    w = rng.integers(0, 2, 1000)
    y = X[:, 0] + w * X[:, 1] + rng.standard_normal(1000)
    learner = TLearner(nuisance_model_factory=LGBMRegressor, nuisance_model_params={"n_estimators": 5, "verbose": -1},
                       is_classification=False, n_variants=2, n_folds=2)
    learner.fit(X, y, w)
    X_big = rng.standard_normal((20_000, 10))  # 1.6 MB: over joblib's 1 MB memmapping threshold
    serial = learner.predict(X_big, is_oos=True, oos_method="mean")
    pattern = f"joblib_memmapping_folder_{os.getpid()}_*"
    left = []
    w_big = rng.integers(0, 2, 20_000)
    with joblib.parallel_config(backend="loky"):
        for _ in range(2):
            big = TLearner(nuisance_model_factory=LGBMRegressor, nuisance_model_params={"n_estimators": 3, "verbose": -1},
                           is_classification=False, n_variants=2, n_folds=2)
            big.fit(X_big, X_big[:, 0] + w_big, w_big, n_jobs_cross_fitting=2)
    left += [p for root in ("/dev/shm", tempfile.gettempdir()) for p in glob.glob(os.path.join(root, pattern))]
    for split in ("rows", "models", "both"):
        with joblib.parallel_config(backend="loky"), config_context(predict_split=split):
            parallel = learner.predict(X_big, is_oos=True, oos_method="mean", n_jobs=2)
        np.testing.assert_array_equal(parallel, serial)
        left += [p for root in ("/dev/shm", tempfile.gettempdir()) for p in glob.glob(os.path.join(root, pattern))]
    with open(sys.argv[1], "w") as out:
        json.dump({"pid": os.getpid(), "left_after_calls": left}, out)
    # End as the harness's trial worker does: the pool stopped, then no atexit clean-up.
    from metalearners_core._execution import stop_process_pools
    stop_process_pools()
    os._exit(0)
""")


def _folders_of(pid: int) -> list[str]:
    pattern = f"joblib_memmapping_folder_{pid}_*"
    return [str(p) for root in {"/dev/shm", tempfile.gettempdir()} if Path(root).is_dir() for p in Path(root).glob(pattern)]


def test_loky_fits_and_predictions_leave_no_memmapping_folder(tmp_path: Path):
    import json

    # Files, not pipes: worker processes inherit the child's stdout and stderr.
    report_file, stderr = tmp_path / "report.json", tmp_path / "stderr.txt"
    with stderr.open("w") as err:
        done = subprocess.run([sys.executable, "-c", SCRIPT, str(report_file)], stdout=subprocess.DEVNULL, stderr=err,
                              timeout=300, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, stderr.read_text()[-3000:]
    report = json.loads(report_file.read_text())
    assert report["left_after_calls"] == []
    assert _folders_of(report["pid"]) == []


PARALLEL_AFTER = textwrap.dedent("""
    import joblib
    import numpy as np
    from lightgbm import LGBMRegressor
    from metalearners_core import TLearner

    rng = np.random.default_rng(0)
    X = rng.standard_normal((500, 5))
    w = rng.integers(0, 2, 500)
    y = X[:, 0] + rng.standard_normal(500)
    learner = TLearner(nuisance_model_factory=LGBMRegressor, nuisance_model_params={"n_estimators": 3, "verbose": -1},
                       is_classification=False, n_variants=2, n_folds=2)
    for _ in range(2):
        with joblib.parallel_config(backend="loky"):
            learner.fit(X, y, w, n_jobs_cross_fitting=2)
            learner.predict(X, is_oos=True, n_jobs=2)
        assert joblib.Parallel(n_jobs=2, backend="loky")(joblib.delayed(abs)(-i) for i in range(4)) == [0, 1, 2, 3]
""")


def test_joblib_parallel_runs_on_loky_after_the_librarys_loky_fits_and_predictions(tmp_path: Path):
    # The library and joblib.Parallel share joblib's one reusable loky pool; a pool opened
    # without joblib's memmapping layer broke every joblib.Parallel(backend="loky") after it.
    stderr = tmp_path / "stderr.txt"
    with stderr.open("w") as err:
        done = subprocess.run([sys.executable, "-c", PARALLEL_AFTER], stdout=subprocess.DEVNULL, stderr=err,
                              timeout=300, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, stderr.read_text()[-3000:]
