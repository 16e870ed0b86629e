"""Regenerates README's benchmark tables from benchmarks/results/*.json.

    python benchmarks/make_table.py

Replaces the text between `<!-- benchmarks:start -->` and `<!-- benchmarks:end -->` in README.md.
"""

import glob
import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
START, END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"


def quality_table(rows):
    lines = [
        "| row | steps | images/s | FID ↓ | KID ↓ | precision ↑ | recall ↑ | density | coverage | command |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in sorted(rows, key=lambda row: row["metrics"]["fid"]):
        m = row["metrics"]
        lines.append(
            f"| {row['name']} | {row['steps']} | {row['images_per_second']:.0f} | {m['fid']:.2f} | "
            f"{m['kid_mean']:.3f} ± {m['kid_std']:.3f} | {m['precision']:.3f} | {m['recall']:.3f} | "
            f"{m['density']:.3f} | {m['coverage']:.3f} | `{row['command']}` |")
    first = rows[0]
    lines.append("")
    lines.append(
        f"Each row: trained from scratch for {first['budget_minutes']:g} minutes of wall clock on "
        f"{first['machine']}, then {first['num_samples']} samples drawn through the SavedModel and compared "
        f"with the Fashion-MNIST test split in the shipped feature space (network {first['feature_model']['hash']}, "
        "see zoo/metrics/FEATURE_NETWORK.md). These FIDs are not comparable to InceptionV3 FIDs in papers.")
    for row in rows:
        if "label_accuracy" in row:
            accuracy = row["label_accuracy"]
            per_class = ", ".join(f"{label}: {value:.2f}" for label, value in accuracy.items() if label != "mean")
            lines.append("")
            lines.append(f"{row['name']}: the shipped classifier (93.1% on real test images) recognizes the requested "
                         f"label in {accuracy['mean']:.1%} of 1,000 samples per label ({per_class}).")
    return lines


def throughput_table(result):
    lines = ["| variant | images/s (median) | ratio to zoo trainer |", "|---|---|---|"]
    for row in result["rows"]:
        lines.append(f"| {row['variant']} | {row['images_per_second']:.0f} | {row['ratio_to_zoo_trainer']:.2f} |")
    lines.append("")
    lines.append(f"`{result['command']}`: DCGAN, batch {result['batch_size']}, {result['timed_steps']} timed steps "
                 f"after {result['warmup_steps']} warm-up steps, variants interleaved in one process, "
                 f"{result['machine']}, {result['date']}.")
    return lines


def main():
    results = os.path.join(ROOT, "benchmarks", "results")
    quality = [json.load(open(path)) for path in sorted(glob.glob(os.path.join(results, "quality_*.json")))]
    lines = []
    if quality:
        lines += ["### Sample quality at a 10-minute CPU budget", ""] + quality_table(quality) + [""]
    throughput_path = os.path.join(results, "train_throughput.json")
    if os.path.exists(throughput_path):
        lines += ["### Training throughput", ""] + throughput_table(json.load(open(throughput_path)))
    readme_path = os.path.join(ROOT, "README.md")
    readme = open(readme_path).read()
    before, rest = readme.split(START)
    _, after = rest.split(END)
    with open(readme_path, "w") as f:
        f.write(before + START + "\n" + "\n".join(lines) + "\n" + END + after)
    print(f"README.md: {len(quality)} quality rows, throughput {'yes' if os.path.exists(throughput_path) else 'no'}")


if __name__ == "__main__":
    main()
