"""Regenerates the benchmark tables (docs/benchmarks.md) from benchmarks/results/*.json.

    python benchmarks/make_table.py

Replaces the text between `<!-- benchmarks:start -->` and `<!-- benchmarks:end -->` in
docs/benchmarks.md. README's shipped-model tables come from the model cards: `python -m zoo.catalog`.
Every table says the split its numbers were measured on (a split column; the test split is for
reported numbers, selection reads the validation split) and what its rows trained on: rows recorded
before the validation split was held out of train have no "train_data" and trained on all of the
training data.
"""

import glob
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FASHION_MNIST_WHOLE = ("all 60,000 Fashion-MNIST training images, where train is now the first 50,000 and "
                       "validation the last 10,000")
START, END = "<!-- benchmarks:start -->", "<!-- benchmarks:end -->"
BENCHMARKS_DOC = os.path.join("docs", "benchmarks.md")  # The benchmark tables (README links it).


def split_of(row):
    """The split a row's numbers were measured on (likelihood rows recorded it inside their record)."""
    return row.get("split") or row.get("likelihood", {}).get("split") or "unrecorded"


def training_note(rows, whole):
    """One line on what the rows trained on: the "train" split they record, or, for rows recorded
    before the validation hold-out, all of the training data (`whole` says what that was)."""
    before = [row["name"] for row in rows if "train_data" not in row]
    after = sorted({row["train_data"] for row in rows if "train_data" in row})
    parts = []
    if before:
        which = "These rows were" if len(before) == len(rows) else f"Rows {', '.join(before)} were"
        parts.append(f"{which} recorded before the validation split was held out of train: they trained on "
                     f"{whole} (`--set=validation_size=0` trains that way now).")
    if after:
        parts.append("Trained on " + "; ".join(after) + ".")
    return " ".join(parts)


def run_labels(rows):
    """{id(row): "date" or "date b"}: a machine is labelled by the date of its first row, with a letter per
    machine when several first recorded on one date (in the order of their first rows; rows without a machine
    id, recorded before it, are labelled by their own date and come first). So a machine whose runs cross
    midnight keeps one label: its rows are one machine's, whatever day each finished on."""
    first = {}  # machine id -> (recorded_at, date) of its earliest row
    for row in rows:
        machine = row.get("machine_id")
        if machine is not None:
            first[machine] = min(first.get(machine, ("~", "")), (row.get("recorded_at") or "", row["date"]))

    def date_of(row):
        machine = row.get("machine_id")
        return row["date"] if machine is None else first[machine][1]

    by_date = {}
    for row in rows:
        ids = by_date.setdefault(date_of(row), [])
        if row.get("machine_id") not in ids:
            ids.append(row.get("machine_id"))
    for ids in by_date.values():
        ids.sort(key=lambda machine: (machine is not None, first.get(machine, ("",))[0]))
    return {id(row): date_of(row) + (f" {'abcdefgh'[by_date[date_of(row)].index(row.get('machine_id'))]}"
                                     if len(by_date[date_of(row)]) > 1 else "") for row in rows}


def quality_table(rows, labels=None):
    """`labels`: run_labels of every quality row, so one machine keeps its letter in every budget's table."""
    lines = [
        "| row | split | date | steps | images/s | FID ↓ | KID ↓ | precision ↑ | recall ↑ | density | coverage | command |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    # Newest first; rows of one date and machine (`run_label`) ran on one machine.
    labels = labels or run_labels(rows)
    newest_first = sorted(rows, key=lambda row: row["metrics"]["fid"])
    newest_first.sort(key=lambda row: labels[id(row)], reverse=True)
    for row in newest_first:
        m = row["metrics"]
        lines.append(
            f"| {row['name']} | {split_of(row)} | {labels[id(row)]} | {row['steps']} | {row['images_per_second']:.0f} | "
            f"{m['fid']:.2f} | "
            f"{m['kid_mean']:.3f} ± {m['kid_std']:.3f} | {m['precision']:.3f} | {m['recall']:.3f} | "
            f"{m['density']:.3f} | {m['coverage']:.3f} | `{row['command']}` |")
    first = rows[0]
    lines.append("")
    lines.append(
        f"Each row: trained from scratch for {first['budget_minutes']:g} minutes of wall clock on "
        f"{first['machine']}, then {first['num_samples']} samples drawn through the SavedModel and compared "
        f"with the Fashion-MNIST test split in the shipped feature space (network {first['feature_model']['hash']}, "
        "see zoo/metrics/FEATURE_NETWORK.md). These FIDs are not comparable to InceptionV3 FIDs in papers. "
        + ("Rows of different dates, or of one date and different letters (a, b: its machines in the order "
           "they ran), ran on different 2-core machines, whose speeds differ: compare the steps each reached "
           "with the dcgan row of the same date and letter. " if len(set(labels.values())) > 1 else "")
        + training_note(rows, FASHION_MNIST_WHOLE))
    for row in rows:
        if "label_accuracy" in row:
            accuracy = row["label_accuracy"]
            per_class = ", ".join(f"{label}: {value:.2f}" for label, value in accuracy.items() if label != "mean")
            lines.append("")
            lines.append(f"{row['name']}: the shipped classifier (93.1% on real test images) recognizes the requested "
                         f"label in {accuracy['mean']:.1%} of 1,000 samples per label ({per_class}).")
    return lines


def search_table(result):
    """The trials of a wall-clock-budget search (benchmarks/search.py), best first."""
    names = []
    for row in result["trials"]:
        names += [name for name in row["hyperparameters"] if name not in names]
    header = ["trial", f"{result['split']} FID ↓", "steps", *names]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    ranked = sorted(result["trials"], key=lambda row: (row["objective"] is None, row["objective"] or 0.0))
    for row in ranked:
        values = [f"{v:.3g}" if isinstance(v, float) else str(v) for v in
                  (row["hyperparameters"].get(name, "") for name in names)]
        score = "failed: " + (row.get("reason") or "") if row["objective"] is None else f"{row['objective']:.2f}"
        lines.append(f"| {row['trial_id']} | {score} | {row['steps'] or ''} | " + " | ".join(values) + " |")
    lines += ["", f"`{result['command']}` ({result['date']}, {result['machine']}): each trial trained "
              f"`{result['config']}` with its hyperparameters for {result['minutes']:g} minutes of wall clock and was "
              f"scored by FID of {result['eval_samples']:,} samples against the {result['split']} split "
              f"({result['eval_reference_examples']:,} images held out of train). The test split was not read; "
              f"trial {result['best']['trial_id']}'s values (learning rates rounded to three significant digits) are "
              f"`{result['config']}`'s defaults, measured on test in the quality table."]
    return lines


def aids_table(rows):
    """Equal-step ablations of the GAN training aids against the row named aids_baseline."""
    baseline = next((row for row in rows if row["name"] == "aids_baseline"), None)
    # No images/s column: these runs shared the machine with other work, so their speeds are noise.
    lines = ["| aid | split | steps | FID ↓ | Δ FID vs baseline | KID ↓ | precision | recall | command |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in sorted(rows, key=lambda row: row["metrics"]["fid"]):
        m = row["metrics"]
        delta = f"{m['fid'] - baseline['metrics']['fid']:+.2f}" if baseline else "n/a"
        lines.append(f"| {row['name']} | {split_of(row)} | {row['steps']} | {m['fid']:.2f} | {delta} | "
                     f"{m['kid_mean']:.3f} | {m['precision']:.3f} | {m['recall']:.3f} | `{row['command']}` |")
    return lines + ["", training_note(rows, FASHION_MNIST_WHOLE)]


def ema_batch_norm_table(result):
    """One run's EMA generator scored with each treatment of its batch-norm statistics."""
    lines = ["| generator | split | FID ↓ | KID ↓ | precision ↑ | recall ↑ |", "|---|---|---|---|---|---|"]
    meaning = {"raw": "raw (no EMA)", "average": "EMA, statistics averaged (default)",
               "copy": "EMA, live generator's statistics", "recompute": "EMA, statistics re-estimated"}
    for variant, m in result["variants"].items():
        lines.append(f"| {meaning.get(variant, variant)} | {result['split']} | {m['fid']:.2f} | {m['kid_mean']:.3f} | "
                     f"{m['precision']:.3f} | {m['recall']:.3f} |")
    return lines + ["", f"One run of {result['steps']} steps (EMA decay {result['ema_decay']}), then "
                    f"{result['num_samples']} samples per row against the {result['split']} split (a choice of "
                    f"default, so not the test split), on {result['machine']}: `{result['command']}`. Re-estimating "
                    f"uses {result['recompute_batches']} training-mode batches of 256 fresh latents."]


def translation_table(rows):
    """Image-to-image rows: each task's pix2pix and its L1-only U-Net ablation side by side."""
    lines = ["| row | task | split | steps | images/s | PSNR (dB) ↑ | SSIM ↑ | L1 ↓ | FID ↓ | KID ↓ | command |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in sorted(rows, key=lambda row: (row["dataset"], row["name"])):
        t = row["translation"]
        lines.append(f"| {row['name']} | {row['dataset']} | {split_of(row)} | {row['steps']} | "
                     f"{row['images_per_second']:.0f} | "
                     f"{t['psnr']:.2f} | {t.get('ssim', float('nan')):.4f} | {t['l1']:.4f} | {t['fid']:.2f} | "
                     f"{t['kid_mean']:.3f} | `{row['command']}` |")
    first = rows[0]
    lines += ["", f"Each row: trained from scratch for {first['budget_minutes']:g} minutes of wall clock on "
              f"{first['machine']}; the first {first['translation']['num_examples']} pairs of the Fashion-MNIST "
              f"{first['split']} split translated through the SavedModel; PSNR/SSIM per image on 0..255 pixels "
              "(averaged), L1 the mean absolute pixel error on a 0..1 scale, FID/KID of the outputs against the "
              "test targets in the shipped feature space. Grids (input | output | target): "
              + ", ".join(f"[{row['name']}](../{row['grid']})" for row in sorted(rows, key=lambda row: row["name"])) + ". "
              + training_note(rows, "pairs made from " + FASHION_MNIST_WHOLE)]
    return lines


def diffusion_tables(result):
    """A diffusion result (benchmarks/diffusion.py): quality against training budget beside the GAN
    baselines trained in the same run, then quality and speed against DDIM sampling steps."""
    def metrics(row):
        m = row["metrics"]
        return (f"{m['fid']:.2f} | {m['kid_mean']:.3f} ± {m['kid_std']:.3f} | {m['precision']:.3f} | "
                f"{m['recall']:.3f} | {m['coverage']:.3f}")

    name = result["config"]
    lines = ["| model | training budget | steps | sampling steps | FID ↓ | KID ↓ | precision ↑ | recall ↑ | coverage ↑ | "
             "s per 64 images |", "|---|---|---|---|---|---|---|---|---|---|"]
    timed = {row["steps"]: row["seconds_per_64_images"] for row in result["sampling"]}
    rows = [(row["budget_minutes"], 0, f"| {name} | {row['budget_minutes']:g} min | {row['steps']} | "
             f"{row['sampling_steps']} | {metrics(row)} | "
             f"{timed[row['sampling_steps']] if row['sampling_steps'] in timed else '—'} |")
            for row in result["training"]]
    rows += [(row["budget_minutes"], 1, f"| {row['config']} | {row['budget_minutes']:g} min | {row['steps']} | "
              f"1 (one pass) | {metrics(row)} | {row['seconds_per_64_images']:.2f} |") for row in result["baselines"]]
    lines += [line for _, _, line in sorted(rows, key=lambda item: item[:2])]
    lines += ["", f"Sampling steps on the {result['sampling'][0]['model_budget_minutes']:g}-minute model "
              "(DDIM, eta = 0):" if result["sampling"] else "", ""]
    if result["sampling"]:
        lines += ["| DDIM steps | FID ↓ | KID ↓ | precision ↑ | recall ↑ | coverage ↑ | s per 64 images (one call) |",
                  "|---|---|---|---|---|---|---|"]
        for row in sorted(result["sampling"], key=lambda row: row["steps"]):
            lines.append(f"| {row['steps']} | {metrics(row)} | {row['seconds_per_64_images']:.2f} |")
        lines.append("")
    lines.append(
        f"Command: `{result['command']}` (everything in sequence on {result['machine']}, one stage after "
        f"another, resumed; last {result['date']}). Every row: {result['num_samples']:,} samples through the SavedModel against the "
        f"Fashion-MNIST {result['split']} split in the shipped feature space; FID from 1,000 samples is biased "
        "upwards against the 10,000-sample rows above (compare FIDs only within this table; KID is unbiased). "
        "Budgets are cumulative wall clock including start-up (each next budget resumes the previous run); s per "
        "64 images is one 64-image call of the export after a warm-up call (the DDPM rows: the DDIM table's "
        "timing at the same step count). " + training_note([{"name": name, **result}], FASHION_MNIST_WHOLE))
    return lines


VARIANT_ORDER = {"scratch": 0, "fine-tuned from export": 1, "fine-tuned from run": 2, "FreezeD from run": 3}


def transfer_image_table(result):
    """benchmarks/transfer.py image rows: FID at equal steps per training-set size, start and DiffAugment."""
    p = result["protocol"]
    lines = ["| images of the class | start | DiffAugment | seed | steps | FID ↓ | KID ↓ | precision ↑ | recall ↑ | "
             "coverage ↑ | train s | command |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in sorted(result["rows"], key=lambda row: (row["examples"], VARIANT_ORDER[row["variant"]], row["diffaugment"],
                                                       row.get("seed", 0))):
        m = row["metrics"]
        lines.append(f"| {row['examples']:,} | {row['variant']} | {'yes' if row['diffaugment'] else 'no'} | "
                     f"{row.get('seed', 0)} | {row['steps']} | "
                     f"{m['fid']:.2f} | {m['kid_mean']:.3f} ± {m['kid_std']:.3f} | {m['precision']:.3f} | "
                     f"{m['recall']:.3f} | {m['coverage']:.3f} | {row['train_seconds']:.0f} | `{row['command']}` |")
    reference = result["rows"][0]["reference"] if result["rows"] else {}
    extra = sorted({row.get("seed", 0) for row in result["rows"]} - {0})
    seeds = (f" (and `--seeds={','.join(map(str, extra))} --sizes=... --augment=...` for the rows with another seed)"
             if extra else "")
    lines += ["", f"Command: `python benchmarks/transfer.py --class_id={p['class_id']} --sizes="
              f"{','.join(str(size) for size in sorted({row['examples'] for row in result['rows']}))} --steps={p['steps']} "
              f"--num_samples={p['num_samples']}`{seeds} ({result.get('machine', 'unrecorded machine')}, {result.get('date', '')}). "
              f"Every row trains `dcgan_fashion_mnist` for {p['steps']} steps on the first N training-split "
              f"images of class {p['class_id']}. \"from export\" rows start the generator from "
              f"`{p['source']}`, trained on all ten classes, with a fresh discriminator (an export holds none); "
              f"\"from run\" rows start every network from the checkpoint of the run behind that export "
              f"(`{p['source_run']}`), and FreezeD keeps its trained `{p['freeze']}` fixed; DiffAugment rows use "
              f"`{p['diffaugment']}`. Each export draws {p['num_samples']:,} samples, compared with the "
              f"{reference.get('num_examples', 0):,} {p['split']}-split images of class {p['class_id']} in the shipped "
              "feature space (zoo-eval's protocol with `--classes`). train s is wall time including start-up."]
    return lines


def transfer_text_table(result):
    """benchmarks/transfer.py text rows: bits/byte of a new file's test part before and after training."""
    p = result["protocol"]
    lines = ["| GPT | steps | test bits/byte ↓ | command |", "|---|---|---|---|"]
    for row in sorted(result["rows"], key=lambda row: -row["likelihood"]["bits_per_byte"]):
        command = f"`{row['command']}`" if "command" in row else "zoo-eval on the shipped export"
        lines.append(f"| {row['variant']} | {row['steps']} | {row['likelihood']['bits_per_byte']:.3f} | {command} |")
    description = result["rows"][0]["likelihood"].get("description", "") if result["rows"] else ""
    lines += ["", f"Command: `python benchmarks/transfer.py --sizes= --text={p['text']} --text_steps={p['steps']}` "
              f"({result.get('machine', 'unrecorded machine')}, {result.get('date', '')}). Measured on the "
              f"{p['split']} split of the file ({description}); fine-tuning starts from `{p['source']}`."]
    return lines


def likelihood_table(rows, baselines):
    lines = ["| row | split | steps | NLL (nats/image) | bits/dim ↓ | -ELBO bits/dim | FID | 16 samples (s) | command |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in sorted(rows, key=lambda row: row["likelihood"]["nll"]["bits_per_dim"]):
        nll, elbo = row["likelihood"]["nll"], row["likelihood"].get("negative_elbo")
        fid = f"{row['metrics']['fid']:.2f}" if "metrics" in row else "—"
        seconds = next(iter(row.get("sample_seconds", {}).values()), None)
        elbo_text = f"{elbo['bits_per_dim']:.3f}" if elbo else "—"
        lines.append(f"| {row['name']} | {split_of(row)} | {row.get('step') or row.get('steps')} | {nll['nll_nats']:.1f} | "
                     f"{nll['bits_per_dim']:.3f} | {elbo_text} | {fid} | {seconds if seconds is not None else '—'} | "
                     f"`{row['command']}` |")
    if baselines:
        image = baselines["images"]["bits_per_dim"]
        lines += ["", f"Reference points on the same {baselines['images']['data']} (`{baselines['command']}`): "
                  f"independent per-pixel categoricals fitted on train {image['independent_categorical']:.2f} bits/dim "
                  f"(the floor any model must be far below), PNG {image['png']:.2f}, xz {image['xz']:.2f}."]
    return lines + ["", training_note(rows + ([{"name": "the baselines", **baselines["images"]}] if baselines else []),
                                      FASHION_MNIST_WHOLE)]


def text_table(rows, baselines):
    lines = ["| row | split | steps | seconds | test bits/byte ↓ | train-slice bits/byte | 200 bytes generated (s) | command |",
             "|---|---|---|---|---|---|---|---|"]
    for row in sorted(rows, key=lambda row: row["test_bits_per_byte"]):
        lines.append(f"| {row['name']} | {split_of(row)} | {row['steps']} | {row['seconds']:.0f} | "
                     f"{row['test_bits_per_byte']:.3f} | "
                     f"{row['train_slice_bits_per_byte']:.3f} | {row['generation_seconds_200_bytes']:.2f} | "
                     f"`{row['command']}` |")
    text = (baselines or {}).get("text", {}).get("bits_per_byte")
    if text:
        lines += ["", f"Reference points on the same {baselines['text']['data']}: an order-0 byte model fitted on "
                  f"train {text['order0_bytes']:.2f} bits/byte, gzip -9 {text['gzip']:.2f}, xz -9e {text['xz']:.2f}, "
                  f"bzip2 -9 {text['bzip2']:.2f}."]
    with_baselines = rows + ([{"name": "the baselines", **baselines["text"]}] if text else [])
    return lines + ["", training_note(with_baselines, "every fortune that is not test (9 in 10)")]


def generation_table(result):
    """Text generation speed, before (the definition's decoding) and after (cached decoding), one run."""
    lines = ["| export | prompts x new bytes | before: bytes/s | after: bytes/s | after / before | same bytes |",
             "|---|---|---|---|---|---|"]
    for row in result["rows"]:
        same = f"{row['prompts'] - len(row['differences'])} of {row['prompts']} texts"
        lines.append(f"| {row['export']} | {row['prompts']} x {row['new_bytes']} | {row['before']['bytes_per_second']:.0f} | "
                     f"{row['after']['bytes_per_second']:.0f} | {row['speedup']:.1f}x | {same} |")
    sampling = result["sampling"]
    load = result["load_average_1m"]
    lines.append("")
    compared = result.get("compared", "before is the shipped export as it is, after the same weights re-exported "
                                        "with the cached decoding")
    lines.append(f"`{result['command']}`: {compared}; temperature {sampling['temperature']:g}, top_k {sampling['top_k']}, seeds "
                 f"{sampling['seeds']}, one warm-up call, then the best of {len(result['rows'][0]['before']['all_seconds'])} "
                 f"calls of each, interleaved; {result['machine']}, "
                 f"{result['date']}, 1-minute load average {load['start']:g} to {load['end']:g}.")
    differing = [(row, difference) for row in result["rows"] for difference in row["differences"]]
    if differing:
        lines.append("Texts that differ (from the first differing new byte on): " + "; ".join(
            f"{row['export']}, {row['prompts']} x {row['new_bytes']}: prompt {difference['prompt']!r}, seed "
            f"{difference['seed']}, new byte {difference['new_byte']}" for row, difference in differing) + ".")
    return lines


def pixelcnn_sampling_table(result):
    """benchmarks/pixelcnn_sampling.py: seconds per serving_default call of the shipped PixelCNN export
    (before), the same weights with the sampler cropped to the receptive field (crop only), and with
    the per-layer caches (after), one run."""
    lines = ["| export | images per call | before: s | crop only: s | after: s | after / before | crop only / before | "
             "same images as before |", "|---|---|---|---|---|---|---|---|"]
    for row in result["rows"]:
        lines.append(f"| {row['export']} | {row['images']} | {row['before']['seconds']:.2f} | {row['crop_only']['seconds']:.2f} | "
                     f"{row['after']['seconds']:.2f} | **{row['speedup']:.1f}x** | {row['crop_only_speedup']:.1f}x | "
                     f"{row['after']['same_images']} of {row['images']} (crop only: {row['crop_only']['same_images']}) |")
    load = result["load_average_1m"]
    lines += ["", f"`{result['command']}`: `serving_default` with seeds {result['seeds']}; before is the shipped export as it "
              "is (the vertical stack once per row over rows 0..i, the whole horizontal stack and head over columns 0..j "
              "for every pixel), crop only the same weights re-exported with both stacks cropped to the window the "
              "logits read (`GatedPixelCNN.reach()`, 8 rows and columns here; measured, not shipped), after the same "
              "weights re-exported with each layer computing only the new row or pixel from its cached ones (Ramachandran "
              "et al. 2017; the per-pixel layers as matrix products). One warm-up call, then the best of "
              f"{len(result['rows'][0]['before']['all_seconds'])} calls of each, interleaved; {result['machine']}, "
              f"{result['date']}, 1-minute load average {load['start']:g} to {load['end']:g}"
              + (f" ({result['note']})" if result.get("note") else "") + ": absolute times are inflated, the ratios "
              "in one run are the result. Both re-exports score images as the shipped export does (log_likelihood "
              "equal)."]
    return lines


def sampler_steps_table(result):
    """benchmarks/diffusion_samplers.py: FID and seconds per 64 images per sampler and step count."""
    rows = {(row["order"], row["steps"]): row for row in result["rows"]}
    samplers = sorted({(row["order"], row["sampler"]) for row in result["rows"]})
    conditional = any("label_accuracy" in row for row in result["rows"])
    header = ["steps"] + [f"{name} FID" for _, name in samplers] + [f"{name} s / 64" for _, name in samplers]
    if conditional:
        header += [f"{name} label accuracy" for _, name in samplers]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    choice = result.get("choice", {})
    for steps in sorted({row["steps"] for row in result["rows"]}):
        cells = [str(steps)]
        for key in ("fid", "seconds_per_64") + (("label_accuracy",) if conditional else ()):
            for order, _ in samplers:
                row = rows.get((order, steps))
                value = "" if row is None or key not in row else (f"{row[key]:.2f}" if key != "label_accuracy"
                                                                  else f"{row[key]:.3f}")
                if row is not None and key == "fid" and (order, steps) == (choice.get("order"), choice.get("steps")):
                    value = f"**{value}**"
                cells.append(value)
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"`{result['command']}`: {result['num_samples']:,} samples per row (the same seeds in every row) vs "
              f"the {result['split']} split's first {result['reference_examples']:,} images, {result['feature_network']}; "
              + (result["timing"] + "; " if result.get("timing") else "seconds are one `sample` call of 64 images after a warm-up; ")
              + f"{result['machine']}, {result['rows'][-1]['date']}"
              + (f" ({result['note']})" if result.get("note") else "") + "."]
    if choice:
        lines += ["", f"Chosen default ({choice['rule']}, within {100 * choice['within']:g}%): **{choice['sampler']} at "
                  f"{choice['steps']} steps**, FID {choice['fid']:.2f} against {choice['reference_fid']:.2f}."]
    return lines


def serving_concurrency_table(result):
    """benchmarks/serving_concurrency.py: one-image clients through batching against direct batch calls."""
    clients = result["clients"]
    lines = [f"| export | direct batch {result['direct_batch']} images/s | ceiling: direct batch {clients} images/s "
             "(/ direct) | batched: images/s | batched / direct | batched / ceiling | batched p50 / p99 ms | "
             "unbatched: images/s | unbatched / direct | unbatched p50 / p99 ms |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, record in result["models"].items():
        direct, batched, unbatched = record["direct"], record["batched"], record["unbatched"]
        ceiling = record.get("ceiling")  # Results from before the ceiling was measured have none.
        lines.append(f"| {name} | {direct['images_per_s']:.1f} | "
                     + (f"{ceiling['images_per_s']:.1f} ({100 * ceiling['fraction_of_direct']:.0f}%) | " if ceiling else "— | ")
                     + f"{batched['images_per_s']:.1f} | **{100 * batched['fraction_of_direct']:.0f}%** | "
                     + (f"{100 * batched['fraction_of_ceiling']:.0f}% | " if ceiling else "— | ")
                     + f"{batched['p50_ms']:.0f} / {batched['p99_ms']:.0f} | "
                     f"{unbatched['images_per_s']:.1f} | {100 * unbatched['fraction_of_direct']:.0f}% | "
                     f"{unbatched['p50_ms']:.0f} / {unbatched['p99_ms']:.0f} |")
    options = result["batching"]
    load = result.get("load_average_1m", {})
    lines += ["", f"`{result['command']}`: {result['clients']} client threads each sending one-image gRPC requests "
              f"back to back ({result['requests_per_client']} each per round, {result['rounds']} interleaved rounds) to "
              "`python -m zoo.serving.local_server --enable_batching` in a second process (batching parameters "
              f"max_batch_size {options['max_batch_size']}, batch_timeout_micros {options['batch_timeout_micros']}, "
              f"{options['num_batch_threads']} batch threads: the file zoo-export writes), against direct calls of "
              f"{result['direct_batch']} images through the same session loader in the benchmark's process; ceiling: "
              f"direct calls of {clients} images, the largest batch {clients} one-image clients can form (what a server "
              f"without overhead could reach); unbatched: the same server without --enable_batching. {result['machine']}, {result['date']}"
              + (f", 1-minute load average {load['start']:.1f} to {load['end']:.1f}" if load.get("end") is not None else "")
              + "."]
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


def serving_table(result):
    names = {"direct": "direct signature call", "grpc": "gRPC loopback", "rest": "REST loopback (columnar JSON)"}
    lines = ["| path | batch | p50 ms | p99 ms | images/s | p50 / direct |", "|---|---|---|---|---|---|"]
    for row in result["rows"]:
        lines.append(f"| {names.get(row['path'], row['path'])} | {row['batch']} | {row['p50_ms']:.2f} | "
                     f"{row['p99_ms']:.2f} | {row['images_per_second']:.0f} | {row['p50_ratio_to_direct']:.2f} |")
    lines.append("")
    lines.append(f"`{result['command']}`: {result['model']}, one client, sequential requests, "
                 f"{result['rows'][0]['requests']} per path and batch over {result['rounds']} interleaved rounds; the "
                 f"server is zoo.serving.local_server in a second process (TensorFlow's SavedModel loader behind "
                 f"tensorflow-serving-api's servicer, Python handlers), {result['machine']}, {result['date']}.")
    return lines


def playground_tables(result):
    """benchmarks/playground.py: zoo-play's start to its first image, then one request per kind of
    export through the UI beside the same call on the SavedModel signature."""
    first = result["time_to_first_image"]
    starts, middle = first["starts"], first["median"]
    request = first["request"]
    steps = [("app_built_s", "exports listed and checked, app built (its `zoo-play:` line)"),
             ("page_answers_s", "page answers (`GET /` is 200)"),
             ("client_connected_s", "gradio_client connected (config and API read)"),
             ("first_image_s", f"first images returned: `{request['endpoint']}` at its defaults")]
    lines = [f"| since starting zoo-play | s (median of {len(starts)}) | each start (s) |", "|---|---|---|"]
    for key, what in steps:
        lines.append(f"| {what} | {middle[key]:.1f} | {', '.join(f'{start[key]:.1f}' for start in starts)} |")
    model = middle.get("first_request_model_ms")
    lines += ["", f"`{result['command']}` starts `{first['command']}` {first['where']}. The first request "
              f"(`{request['export']}` `{request['signature']}`, widget values {request['values']}: {request['why']}) "
              f"took {middle['first_request_s']:.1f} s"
              + (f", {model / 1e3:.1f} s of it the model call as the UI reports it (loading the SavedModel on first "
                 "use, then running it)" if model is not None else "") + f". Setup: {result['setup']}.", ""]
    latency = result["latency"]
    lines += ["| kind: declared input roles -> output | panel (export / signature) | UI p50 ms | UI p90 ms | "
              "direct p50 ms | direct p90 ms | **UI / direct** (p50) | UI - direct, paired p50 ms | "
              "model call inside the UI, p50 ms |", "|---|---|---|---|---|---|---|---|---|"]
    for row in latency["rows"]:
        ui, direct = row["ui"], row["direct"]
        inside = row.get("ui_backend_call")
        inside = f"{inside['p50_ms']:.0f}" if inside else "—"
        panel = f"`{row['export']}` / `{row['signature']}`" + (" (streamed)" if row["streamed"] else "")
        lines.append(f"| {row['kind']} | {panel} | {ui['p50_ms']:.0f} | {ui['p90_ms']:.0f} | {direct['p50_ms']:.1f} | "
                     f"{direct['p90_ms']:.1f} | **{row['ui_over_direct_p50']:.1f}** | {row['ui_minus_direct']['p50_ms']:.0f} | "
                     f"{inside} |")
    streamed = [row for row in latency["rows"] if row["streamed"] and row.get("ui_first_update")]
    load = result["load_average_1m"]
    lines += ["", f"`{result['command']}`: for each kind, the first panel of that kind in the page's order, "
              f"{latency['requests']} timed requests after {latency['warmup']} warm-up ones, {latency['count']} "
              f"row{'s' if latency['count'] != 1 else ''} per request, widgets at their defaults (images in: the declared example image uploaded); "
              f"{latency['how']}. The first call of each kind checked that the UI answered what the signature "
              "answers. UI / direct is the number to compare across machines (load slows both paths, measured "
              "side by side); where the call itself takes a few milliseconds it is the UI's own cost over a tiny "
              "denominator and swings most with load, so read UI - direct there: the p50 of each UI request's "
              "duration minus that of the direct request next to it (what the UI adds). The model call inside "
              "the UI is the backend time the page itself shows (\"last request\"); the rest of a UI request is "
              "Gradio's queue, the handler (latents, PNGs, the zip) and the transport."
              + (" Streamed text is timed to its last update (its prefix grown 8, 16, 32, ... new tokens, one "
                 "call each); its first update came after "
                 + ", ".join(f"{row['ui_first_update']['p50_ms']:.0f} ms ({row['export']})" for row in streamed)
                 + " (p50)." if streamed else "")
              + f" {result['machine']} (Python {result['software']['python']}, Gradio {result['software']['gradio']}, "
              f"gradio_client {result['software']['gradio_client']}), {result['date']}; the machine was shared: "
              f"{result['shared_machine']} (1-minute load average {load['start']:g} at the start, "
              + (f"{load['latency_rounds'][0]:g} to {load['latency_rounds'][1]:g} during the latency rounds, "
                 if load.get("latency_rounds") else "")
              + f"{load['end']:g} at the end), so every latency is inflated: compare the ratios, not the milliseconds, "
              "across machines."]
    return lines


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv:
        raise SystemExit(f"usage: python benchmarks/make_table.py (no arguments; README's shipped tables: "
                         f"python -m zoo.catalog); got: {' '.join(argv)}")
    results = os.path.join(ROOT, "benchmarks", "results")
    every = [json.load(open(path)) for path in sorted(glob.glob(os.path.join(results, "quality_*.json")))]
    quality = [row for row in every if not row.get("budget_steps")]
    aids = [row for row in every if row.get("budget_steps")]
    load = lambda pattern: [json.load(open(path)) for path in sorted(glob.glob(os.path.join(results, pattern)))]  # noqa: E731
    likelihood = [row for row in load("likelihood_*.json") if "likelihood" in row]
    baselines_path = os.path.join(results, "likelihood_baselines.json")
    baselines = json.load(open(baselines_path)) if os.path.exists(baselines_path) else None
    text = [row for row in load("text_*.json") if "test_bits_per_byte" in row]  # Not text_generation.json.
    translation = load("translation_*.json")
    lines = []
    labels = run_labels(quality)
    for minutes in sorted({row["budget_minutes"] for row in quality}):
        rows = [row for row in quality if row["budget_minutes"] == minutes]
        lines += [f"### Sample quality at a {minutes:g}-minute CPU budget", ""] + quality_table(rows, labels) + [""]
    for result in load("search_*.json"):
        lines += [f"### Search for quality per CPU-minute ({result['config']})", ""] + search_table(result) + [""]
    if aids:
        lines += [f"### GAN training aids on DCGAN ({aids[0]['budget_steps']} steps each)", ""]
        lines += aids_table(aids) + [""]
    for result in load("ema_batch_norm_*.json"):
        lines += [f"### Batch-norm statistics of the generator EMA ({result['name'].replace('ema_batch_norm_', '')})", ""]
        lines += ema_batch_norm_table(result) + [""]
    for result in load("diffusion_*.json"):  # benchmarks/diffusion.py's (not sampler_steps_*.json)
        lines += [f"### Diffusion against GANs on a 2-core CPU ({result['config']})", ""] + diffusion_tables(result) + [""]
    if translation:
        lines += [f"### Image-to-image at a {translation[0]['budget_minutes']:g}-minute CPU budget", ""]
        lines += translation_table(translation) + [""]
    for result in load("transfer_dcgan_*.json"):
        lines += ["### Transfer with little data: one Fashion-MNIST class (FID at equal steps)", ""]
        lines += transfer_image_table(result) + [""]
    for result in load("transfer_gpt_*.json"):
        lines += [f"### Transfer of the fortunes GPT to {os.path.basename(result['protocol']['text'])}", ""]
        lines += transfer_text_table(result) + [""]
    if likelihood:
        lines += ["### Likelihood models on Fashion-MNIST (through the export)", ""]
        lines += likelihood_table(likelihood, baselines) + [""]
    if text:
        lines += ["### Text models on the fortunes (test: every 10th fortune)", ""]
        lines += text_table(text, baselines) + [""]
    generation_path = os.path.join(results, "text_generation.json")
    if os.path.exists(generation_path):
        lines += ["### Text generation speed (cached decoding)", ""] + generation_table(json.load(open(generation_path))) + [""]
    pixelcnn_sampling_path = os.path.join(results, "pixelcnn_sampling.json")
    if os.path.exists(pixelcnn_sampling_path):
        lines += ["### PixelCNN sampling speed (per-layer caches)", ""]
        lines += pixelcnn_sampling_table(json.load(open(pixelcnn_sampling_path))) + [""]
    for result in load("sampler_steps_*.json"):
        lines += [f"### Few-step diffusion sampling: DDIM against DPM-Solver++(2M) ({result['name']})", ""]
        lines += sampler_steps_table(result) + [""]
    throughput_path = os.path.join(results, "train_throughput.json")
    if os.path.exists(throughput_path):
        lines += ["### Training throughput", ""] + throughput_table(json.load(open(throughput_path)))
    serving_path = os.path.join(results, "serving_latency.json")
    if os.path.exists(serving_path):
        lines += ["", "### Serving latency", ""] + serving_table(json.load(open(serving_path)))
    concurrency_path = os.path.join(results, "serving_concurrency.json")
    if os.path.exists(concurrency_path):
        lines += ["", "### Serving under concurrency: request batching in the stand-in server", ""]
        lines += serving_concurrency_table(json.load(open(concurrency_path)))
    playground_path = os.path.join(results, "playground.json")
    if os.path.exists(playground_path):
        lines += ["", "### Playground: time to the first image and latency per kind of export (zoo-play)", ""]
        lines += playground_tables(json.load(open(playground_path)))
    tables_path = os.path.join(ROOT, BENCHMARKS_DOC)
    tables = open(tables_path).read()
    before, rest = tables.split(START)
    _, after = rest.split(END)
    with open(tables_path, "w") as f:
        f.write(before + START + "\n" + "\n".join(lines) + "\n" + END + after)
    print(f"{BENCHMARKS_DOC}: {len(quality)} quality rows, {len(aids)} aid rows, {len(likelihood)} likelihood rows, "
          f"{len(text)} text rows, throughput {'yes' if os.path.exists(throughput_path) else 'no'}")


if __name__ == "__main__":
    main()
