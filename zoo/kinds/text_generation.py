"""text_generation: continuations a language model writes for prompts cut from the split's held-out
text, measured for diversity (distinct-1/2/3, self-BLEU) and against the true continuations
(sacrebleu BLEU); see zoo.metrics.text_quality.

Measured by zoo-eval only (--num_prompts, default 200; 0 skips it), not during training: these
numbers describe what sampling produces rather than rank checkpoints (more distinct n-grams is not
better past the data's own level, and BLEU of sampled text against one reference is noisy), so
the kind has no objective, and selection stays on bits/byte.
"""

from zoo import contract
from zoo.kinds.base import Kind

NAME = "text_generation"
_RECORD = "generation"
_CARD_METRICS = ("distinct_1", "distinct_2", "distinct_3", "self_bleu", "bleu")


class TextGeneration(Kind):
    name = NAME
    fills = frozenset({contract.TEXT, contract.SEED, contract.PARAMETER})
    needs = contract.TEXT
    outputs = (contract.TEXT,)
    intended_use = ("Trying byte-level text generation without training; a starting point for fine-tuning on other "
                    "text; serving and client tests.")

    def measure(self, request):
        from zoo.metrics import text_quality

        if not request.num_prompts:
            return {}
        options = request.options
        return {_RECORD: text_quality.evaluate_text_generation(
            request.function, request.signature, request.dataset, request.split, request.num_prompts,
            request.prompt_bytes, request.continuation_bytes, request.first_seed, request.batch_size,
            request.parameters, options.get("data_dir"), options.get("validation_size"))}

    def card_metrics(self, record, values):
        generation = record.get(_RECORD, {})
        for name in _CARD_METRICS:
            if generation.get(name) is not None:
                values[name] = generation[name]

    def protocol(self, record):
        if _RECORD not in record:
            return []
        generation = record[_RECORD]
        settings = ", ".join(f"{name} {value:g}" for name, value in generation["parameters"].items())
        return [f"{generation['num_prompts']:,} prompts of {generation['prompt_bytes']} bytes from {generation['split']} "
                f"texts continued by {generation['continuation_bytes']} bytes ({settings}; seed {generation['first_seed']}"
                f" + prompt index), distinct-n on {generation['tokenization']['distinct_n']}, BLEU "
                f"{generation['bleu_signature']}"]

    def summary(self, record, split):
        if _RECORD not in record:
            return []
        generation, held_out = record[_RECORD], record[_RECORD]["held_out"]
        return [f"generation ({generation['num_prompts']} prompts, {generation['prompt_bytes']}+"
                f"{generation['continuation_bytes']} bytes): distinct-1/2/3 {_distinct(generation)}  "
                f"self-BLEU {generation['self_bleu']:.1f}  BLEU {generation['bleu']:.2f} "
                f"(held-out text: distinct-1/2/3 {_distinct(held_out)}, self-BLEU {held_out['self_bleu']:.1f})"]

    def limitations(self, dataset, image_shape):
        return ["Generation quality (distinct-n, self-BLEU, BLEU) is of sampled continuations of a few hundred "
                "held-out prompts at the export's default sampling settings: BLEU against the one true continuation "
                "is low for any sampler and compares models only under the same protocol."]


def _distinct(values):
    return "/".join("n/a" if values[f"distinct_{n}"] is None else f"{values[f'distinct_{n}']:.3f}" for n in (1, 2, 3))


TEXT_GENERATION = TextGeneration()
