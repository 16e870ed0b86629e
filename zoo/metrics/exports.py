"""Evaluating an export through its SavedModel signatures alone (zoo-eval).

What is measured is what the export declares (`zoo.contract`, recorded in assets.extra): each
declared evaluation's kind (zoo.kinds) measures it and adds its fragment to the record, e.g. FID,
KID, precision/recall of `num_samples` samples against the real split (0 samples: skipped, e.g. for
a PixelCNN, whose in-graph sampling takes minutes per thousand images on a CPU); NLL in nats and
bits/dim; bits per byte of held-out text; distinct-n, self-BLEU and BLEU of continuations of
`num_prompts` held-out prompts (0: skipped); PSNR, SSIM, L1 and FID/KID of translations vs targets.
"""

import time

from zoo import contract
from zoo.errors import UserError


def evaluate_export(version_dir, dataset, split="test", num_samples=10000, first_seed=None, batch_size=256,
                    feature_model=None, data_dir=None, reference_examples=10000, likelihood_examples=None,
                    data_options=None, parameters=None, trust_export=False, num_prompts=0, prompt_bytes=32,
                    continuation_bytes=64):
    """Returns the evaluation record of a SavedModel version (see the module docstring).

    Sample metrics go under "metrics" (with the sample count, seeds, feature network hash and
    reference description); conditional generators get balanced labels (image i: label i mod the
    declared number of classes). Likelihoods go under "likelihood": for images, of the split's
    first `likelihood_examples` images (None: all). Translation metrics go under "translation",
    over the split's first `num_samples` pairs. `data_options` (image_size, channels, direction,
    validation_size) read the data as the model was trained on it. `split` "test" gives the numbers
    to report; "validation" (held out of train) is what selection reads. `parameters` ({name:
    number}) sets the evaluated signatures' parameter inputs (e.g. a sampler's step count) instead of
    their declared defaults; the record says which were set. Text generation goes under
    "generation": `num_prompts` prompts of `prompt_bytes` cut from the split's texts, continued by
    `continuation_bytes` (0 prompts, the default here: skipped). An export this process did not
    write must pass zoo.export.trust unless `trust_export`.
    """
    from zoo import kinds
    from zoo.export import trust

    if not 0 < batch_size <= 1024:
        raise UserError(f"--batch_size must be between 1 and 1024, got {batch_size}")
    if num_samples < 0:
        raise UserError(f"--num_samples must be 0 (no sample metrics) or positive, got {num_samples}")
    if num_prompts < 0 or num_prompts == 1:
        raise UserError(f"--num_prompts must be 0 (no generation metrics) or at least 2 (self-BLEU compares "
                        f"continuations with each other), got {num_prompts}")
    if num_prompts and (prompt_bytes < 1 or continuation_bytes < 1):
        raise UserError(f"--prompt_bytes and --continuation_bytes must be at least 1, got {prompt_bytes} and "
                        f"{continuation_bytes}")
    interface = contract.from_export(version_dir)
    options = {"data_dir": data_dir, **(data_options or {})}
    started = time.perf_counter()
    loaded = trust.load(version_dir, trust_export)
    record = {"export": version_dir, "dataset": dataset, "split": split}
    if parameters:
        record["parameters"] = dict(parameters)
    if options.get("validation_size") is not None:  # What "train" and "validation" hold.
        record["validation_size"] = options["validation_size"]
    if options.get("classes") is not None:  # The real images are these classes' only.
        record["classes"] = options["classes"]
    measured = False
    for evaluation, kind in kinds.declared(interface):
        request = kinds.Request(loaded.signatures[evaluation.signature], interface.signature(evaluation.signature),
                                evaluation, dataset, split, num_samples, first_seed, batch_size, feature_model,
                                reference_examples, likelihood_examples, options, parameters, num_prompts,
                                prompt_bytes, continuation_bytes)
        fragment = kind.measure(request)
        record.update(fragment)
        measured = measured or bool(fragment)
    if not measured:
        declared = ", ".join(evaluation.kind for evaluation in interface.evaluations) or "nothing"
        zeros = [f"{flag}=0" for flag, value in (("--num_samples", num_samples), ("--num_prompts", num_prompts))
                 if not value]
        raise UserError(f"{' and '.join(zeros)} {'leaves' if len(zeros) == 1 else 'leave'} nothing to measure: "
                        f"{version_dir} declares {declared}")
    record["seconds"] = round(time.perf_counter() - started, 1)
    return record
