"""A small byte-level GPT on the Debian fortune cookies, sized for about 10 minutes on 2 CPU cores.

    zoo-train --config=experiments/configs/gpt_fortunes.py --workdir=runs/gpt_fortunes
    zoo-train --config=experiments/configs/gpt_fortunes.py --dataset=text:/path/to/file.txt --workdir=runs/gpt_mine
"""

from experiments.configs._base import shrink_for_smoke, trainer_config


def get_config(smoke=False):
    config = trainer_config("gpt", dataset="fortunes")
    config.sequence_length = 128  # Bytes of context; the data's windows hold one more.
    config.batch_size = 32
    config.train_steps = 20000
    config.log_every = 100
    config.checkpoint_every = 500
    # 0.8M parameters. Width 192 (1.9M) trained at about two thirds of the steps/s on 2 cores, so
    # this size gets more of the corpus through a 10-minute budget.
    config.model_config.width = 128
    config.model_config.depth = 4
    config.model_config.heads = 4
    config.model_config.dropout = 0.0  # A 10-minute run sees the corpus about once: nothing to regularize.
    config.model_config.tie_embeddings = True
    config.model_config.learning_rate = 2e-3
    config.model_config.warmup_steps = 200
    config.model_config.weight_decay = 0.1
    config.model_config.clip_norm = 1.0
    if smoke:
        shrink_for_smoke(config)
        config.sequence_length = 16
        config.model_config.width = 16
        config.model_config.depth = 2
        config.model_config.heads = 2
        config.model_config.dropout = 0.1  # Exercises the stateless dropout path.
        config.model_config.warmup_steps = 0
    return config
