"""Translate a sweep space into Ray Tune search domains (lists -> choice, ranges -> (log)uniform / (log)randint)."""
from __future__ import annotations


def tune_param_space(spec) -> dict:
    from ray import tune

    space = {}
    for key, dom in spec.space.items():
        if isinstance(dom, list):
            space[key] = tune.choice(dom)
        elif dom.get("int"):
            lo, hi = int(dom["min"]), int(dom["max"]) + 1
            space[key] = tune.lograndint(lo, hi) if dom.get("log") else tune.randint(lo, hi)
        else:
            lo, hi = float(dom["min"]), float(dom["max"])
            space[key] = tune.loguniform(lo, hi) if dom.get("log") else tune.uniform(lo, hi)
    return space
