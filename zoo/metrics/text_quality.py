"""Quality of generated text: diversity (distinct-n, self-BLEU) and BLEU against held-out text.

    distinct_n(["the cat sat", "the cat ran"], 1)   # 4 unique words / 6 words = 0.667
    self_bleu(continuations)                        # mean BLEU of each text against all the others
    corpus_bleu(continuations, references)          # sacrebleu's corpus BLEU, one reference each

distinct-n (Li et al. 2016, "A Diversity-Promoting Objective Function for Neural Conversation
Models") is the number of unique n-grams over all texts divided by the number of n-grams, on
whitespace-separated words (`str.split()`); n-grams never span two texts. Higher is more diverse;
a text repeating one word scores about 1 / its length. Bytes would saturate it for a byte-level
model (a few dozen distinct bytes occur at all), so words it is.

self-BLEU (Zhu et al. 2018, "Texygen") is the mean over texts of the sentence BLEU of one text
against all the others as its references: 100 when every text is the same, near 0 when no two
share a word; lower is more diverse. BLEU (Papineni et al. 2002) is sacrebleu's (Post 2018,
"A Call for Clarity in Reporting BLEU Scores"): the field's shareable implementation, with its
default 13a tokenization, and its signature string recorded beside each score.

`evaluate_text_generation` continues held-out prompts through an export's generation signature and
reports all three, with the same numbers of the true continuations beside them (the data's own
diversity, what a model imitating it should reach).
"""

import time

import numpy as np

from zoo import contract
from zoo.errors import UserError

TOKENIZATION = {"distinct_n": "whitespace words (str.split)", "bleu": "sacrebleu 13a"}
DISTINCT_ORDERS = (1, 2, 3)
_EXAMPLES = 3  # Prompts, continuations and references kept in a record for a reader to see.


def distinct_n(texts, n):
    """Unique n-grams / n-grams of whitespace words over `texts` (str); None when they hold no
    n-gram (every text shorter than n words)."""
    if n < 1:
        raise ValueError(f"distinct-n needs n >= 1, got {n}")
    seen, total = set(), 0
    for text in texts:
        words = text.split()
        grams = [tuple(words[start:start + n]) for start in range(len(words) - n + 1)]
        seen.update(grams)
        total += len(grams)
    return len(seen) / total if total else None


def self_bleu(texts):
    """Mean sentence BLEU (sacrebleu, 0-100) of each text against all the other texts.

    The number `sacrebleu.sentence_bleu(text, others)` gives for each text, from sacrebleu's own
    tokenizer, n-gram counts and score formula, but with each text tokenized and counted once: an
    n-gram's clipping count against the others is the largest count among them, which is the
    largest overall unless this text holds it, then the second largest. Linear in the number of
    texts instead of quadratic (200 continuations: a fraction of a second, not seconds).
    """
    from sacrebleu.metrics import BLEU
    from sacrebleu.metrics.helpers import extract_all_word_ngrams

    texts = list(texts)
    if len(texts) < 2:
        raise UserError(f"self-BLEU compares texts with each other: it needs at least 2, got {len(texts)}")
    bleu = BLEU(effective_order=True)  # What sacrebleu.sentence_bleu uses: short texts are scored.
    order = bleu.max_ngram_order
    counted = [extract_all_word_ngrams(bleu._preprocess_segment(text), 1, order) for text in texts]
    lengths = np.array([length for _, length in counted])
    largest = {}  # n-gram -> (largest count, index of a text holding it, second largest count)
    for index, (grams, _) in enumerate(counted):
        for gram, count in grams.items():
            first, holder, second = largest.get(gram, (0, -1, 0))
            largest[gram] = (count, index, first) if count > first else (first, holder, max(second, count))
    scores = []
    for index, (grams, length) in enumerate(counted):
        correct, total = [0] * order, [0] * order
        for gram, count in grams.items():
            first, holder, second = largest[gram]
            total[len(gram) - 1] += count
            correct[len(gram) - 1] += min(count, second if holder == index else first)
        others = np.delete(lengths, index)
        distance = np.abs(others - length)
        closest = int(others[distance == distance.min()].min())  # sacrebleu: the closest, the shorter on a tie.
        scores.append(BLEU.compute_bleu(correct, total, int(length), closest, smooth_method=bleu.smooth_method,
                                        smooth_value=bleu.smooth_value, effective_order=True,
                                        max_ngram_order=order).score)
    return float(np.mean(scores))


def corpus_bleu(hypotheses, references):
    """(score 0-100, sacrebleu signature) of `hypotheses` against one reference each."""
    from sacrebleu.metrics import BLEU

    hypotheses, references = list(hypotheses), list(references)
    if len(hypotheses) != len(references) or not hypotheses:
        raise ValueError(f"BLEU needs one reference per hypothesis, got {len(hypotheses)} and {len(references)}")
    bleu = BLEU()
    score = bleu.corpus_score(hypotheses, [references])
    return float(score.score), str(bleu.get_signature())


def diversity(texts):
    """{distinct_1, distinct_2, distinct_3, self_bleu} of a list of texts."""
    values = {f"distinct_{n}": distinct_n(texts, n) for n in DISTINCT_ORDERS}
    values["self_bleu"] = self_bleu(texts)
    return values


def held_out_prompts(dataset, split, num_prompts, prompt_bytes, continuation_bytes, data_dir=None,
                     validation_size=None):
    """(prompts, references, units, description): the first `prompt_bytes` and the next
    `continuation_bytes` bytes of `num_prompts` units of the split (`zoo.data.text.documents`) long
    enough for both (all of them when fewer are), spread evenly over those units in their order
    (the fortunes' files are topics, so the first units alone would be one topic); `units` is how
    many were long enough."""
    from zoo.data import text

    needed = prompt_bytes + continuation_bytes
    units, description = text.documents(dataset, split, data_dir, validation_size, piece_length=needed)
    eligible = [unit for unit in units if len(unit) >= needed]
    if len(eligible) < 2:
        raise UserError(f"{dataset} {split} has {len(eligible)} texts of at least {needed} bytes (--prompt_bytes "
                        f"{prompt_bytes} + --continuation_bytes {continuation_bytes}); self-BLEU needs at least 2: "
                        "ask for shorter prompts or continuations")
    count = min(num_prompts, len(eligible))
    # Evenly spaced indices: consecutive ones differ by at least 1, so rounding keeps them distinct.
    chosen = np.floor(np.linspace(0, len(eligible) - 1, count) + 0.5).astype(int)
    prompts = [eligible[index][:prompt_bytes] for index in chosen]
    references = [eligible[index][prompt_bytes:needed] for index in chosen]
    return prompts, references, len(eligible), description


def evaluate_text_generation(function, signature, dataset, split="test", num_prompts=200, prompt_bytes=32,
                             continuation_bytes=64, first_seed=None, batch_size=256, parameters=None, data_dir=None,
                             validation_size=None):
    """Continues held-out prompts through a generation signature and measures the continuations.

    The signature takes a text prompt, a seed and parameters, one of which is the prefix length
    (`contract.Input.prefix`: how many tokens to add, bytes for a byte-level model); it returns
    the prompt followed by the continuation (an output not starting with its prompt is taken as
    the continuation alone). Prompt i gets seed first_seed + i; the other parameters stay at their
    declared defaults unless `parameters` sets them. A split with fewer long-enough texts than
    `num_prompts` gives all of them. Returns a JSON-ready record stating the protocol (split,
    counts, lengths, parameter values, seeds, tokenization) and the numbers.
    """
    import tensorflow as tf

    from zoo.metrics import sampling

    lengths = [spec for spec in signature.inputs_with(contract.PARAMETER) if spec.prefix]
    if len(lengths) != 1:
        raise UserError(f"{signature.name} declares {len(lengths)} length parameters (prefix=True); continuing "
                        "prompts needs exactly one, the number of tokens to add")
    length = lengths[0]
    if length.name in (parameters or {}):
        raise UserError(f"--parameter {length.name}=... is the continuation length here: set --continuation_bytes")
    if not length.low <= continuation_bytes <= length.high:
        raise UserError(f"--continuation_bytes must be between {length.low} and {length.high} (what {signature.name}'s "
                        f"{length.name} allows), got {continuation_bytes}")
    first_seed = sampling.EVAL_FIRST_SEED if first_seed is None else first_seed
    settings = {**(parameters or {}), length.name: continuation_bytes}
    sampling.parameter_defaults(signature, 0, settings)  # A bad parameter fails before any data is read.
    prompts, references, eligible, description = held_out_prompts(
        dataset, split, num_prompts, prompt_bytes, continuation_bytes, data_dir, validation_size)
    prompt_input, seed_input = signature.input_with(contract.TEXT), signature.input_with(contract.SEED)
    output = signature.output_with(contract.TEXT)
    started = time.perf_counter()
    continuations = []
    for first in range(0, len(prompts), batch_size):
        batch = prompts[first:first + batch_size]
        request = {prompt_input.name: np.array(batch, dtype=object),
                   seed_input.name: np.arange(first, first + len(batch), dtype=np.int64) + first_seed,
                   **sampling.parameter_defaults(signature, len(batch), settings)}
        texts = function(**{name: tf.constant(value) for name, value in request.items()})[output].numpy().tolist()
        continuations += [text[len(prompt):] if text.startswith(prompt) else text for prompt, text in zip(batch, texts)]
    seconds = time.perf_counter() - started
    generated = [_as_text(continuation) for continuation in continuations]
    held_out = [_as_text(reference) for reference in references]
    bleu, bleu_signature = corpus_bleu(generated, held_out)
    values = {spec.name: settings.get(spec.name, spec.default) for spec in signature.inputs_with(contract.PARAMETER)
              if spec is not length}
    return {
        "dataset": dataset, "split": split, "description": description,
        "num_prompts": len(prompts), "eligible": eligible, "prompt_bytes": prompt_bytes,
        "continuation_bytes": continuation_bytes, "parameters": values, "first_seed": first_seed,
        "tokenization": dict(TOKENIZATION),
        **diversity(generated),
        "bleu": bleu, "bleu_signature": bleu_signature,
        "held_out": diversity(held_out),  # The true continuations' own diversity, for comparison.
        "generated_bytes": int(sum(len(continuation) for continuation in continuations)),
        "examples": [{"prompt_text": _as_text(prompt), "continuation": text, "held_out": reference}
                     for prompt, text, reference in list(zip(prompts, generated, held_out))[:_EXAMPLES]],
        "generation_seconds": round(seconds, 2),
        "seconds": round(time.perf_counter() - started, 2),
    }


def _as_text(data):
    """Bytes as a str for word splitting and BLEU (a byte-level sample may end inside a UTF-8 character)."""
    return data.decode("utf-8", errors="replace")
