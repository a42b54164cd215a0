"""The what-if predictor: a fit's task graph from the store, replayed on P cores.

* :mod:`.replay`    -- pure: task graph + policy (core's scheduler, the package's nested joblib) -> schedule;
* :mod:`.costs`     -- the store's serial task traces -> a workload's graph, Amdahl scaling, glue;
* :mod:`.calibrate` -- this machine's pool start-up and per-task dispatch (cached next to the store);
* :mod:`.predict`   -- every config of the grid on P cores -> predicted warm/cold walls;
* :mod:`.command`   -- ``python -m harness whatif`` (and the predictions recommend/tune use).
"""
