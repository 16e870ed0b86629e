"""The byte-level LSTM baseline on the Debian fortune cookies, sized like gpt_fortunes.

    zoo-train --config=experiments/configs/char_lstm_fortunes.py --workdir=runs/char_lstm_fortunes
"""

from experiments.configs._base import shrink_for_smoke, trainer_config


def get_config(smoke=False):
    config = trainer_config("char_lstm", dataset="fortunes")
    config.sequence_length = 128  # Bytes of context; the data's windows hold one more.
    config.batch_size = 32
    config.train_steps = 20000
    config.log_every = 100
    config.checkpoint_every = 500
    config.model_config.embedding_dim = 64
    config.model_config.units = (384,)  # 0.8M parameters, as gpt_fortunes.
    config.model_config.dropout = 0.0
    config.model_config.learning_rate = 2e-3
    config.model_config.warmup_steps = 100
    config.model_config.weight_decay = 0.0
    config.model_config.clip_norm = 1.0
    if smoke:
        shrink_for_smoke(config)
        config.sequence_length = 16
        config.model_config.embedding_dim = 8
        config.model_config.units = (16, 16)
        config.model_config.dropout = 0.1  # Exercises the stateless dropout path.
        config.model_config.warmup_steps = 0
    return config
