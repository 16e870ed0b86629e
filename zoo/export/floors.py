"""Quality floors of shipped exports and the model README recommends for each use.

`<export_root>/quality_floors.json` declares, per export name, the bound each headline metric of
its card must meet on the test split ({"fid": {"max": 30}}), the exports known to be below their
floor (with the numbers their cards state, so a card that gets worse without saying so fails),
and the uses a model is recommended for (a metric and the exports that compete). Nothing here
names a model: it reads the manifest and the cards.
"""

import json
import os

FLOORS_FILE = "quality_floors.json"
# Which way is better for a metric a use ranks by.
_LOWER_IS_BETTER = ("fid", "kid_mean", "nll_bits_per_dim", "bits_per_byte", "negative_elbo_bits_per_dim", "l1")


def load(export_root):
    """The manifest of `export_root`, or {} when it has none."""
    path = os.path.join(export_root, FLOORS_FILE)
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def shortfalls(name, metrics, manifest):
    """[(metric, value, bound text)] of the floors of `name` its card's `metrics` do not meet
    (a metric the card lacks counts as not met)."""
    missed = []
    for metric, bound in manifest.get("floors", {}).get(name, {}).items():
        value = metrics.get(metric)
        ok = value is not None and ("max" not in bound or value <= bound["max"]) and (
            "min" not in bound or value >= bound["min"])
        if not ok:
            missed.append((metric, value, describe(bound)))
    return missed


def describe(bound):
    """`<= 30` / `>= 0.9` for a floor's bound."""
    return " and ".join(f"{'<=' if key == 'max' else '>='} {bound[key]:g}" for key in ("max", "min") if key in bound)


def describe_floor(name, manifest):
    """`fid <= 30, label_accuracy >= 0.9` for an export, or '' without a floor."""
    return ", ".join(f"{metric} {describe(bound)}" for metric, bound in manifest.get("floors", {}).get(name, {}).items())


def better(metric, a, b):
    """Whether value `a` of `metric` is better than `b`."""
    return a < b if metric in _LOWER_IS_BETTER else a > b


def recommended(manifest, metrics_by_name):
    """{use: (export name, value) or None}: per declared use, the export with the best value of the
    use's metric among those shipped (`metrics_by_name`: name -> card metrics) that meet their floor."""
    chosen = {}
    for use, declared in manifest.get("uses", {}).items():
        best = None
        for name in declared["exports"]:
            metrics = metrics_by_name.get(name)
            if metrics is None or declared["metric"] not in metrics or shortfalls(name, metrics, manifest):
                continue
            value = metrics[declared["metric"]]
            if best is None or better(declared["metric"], value, best[1]):
                best = (name, value)
        chosen[use] = best
    return chosen
