"""Trainer defaults shared by every experiment config."""

import ml_collections


def trainer_config(model, dataset="fashion_mnist"):
    config = ml_collections.ConfigDict()
    config.model = model
    config.dataset = dataset
    config.data_dir = ml_collections.FieldReference(None, field_type=str)
    config.image_size = ml_collections.FieldReference(None, field_type=int)
    config.channels = ml_collections.FieldReference(None, field_type=int)
    config.batch_size = 64
    config.train_steps = 1000
    config.seed = 0
    config.log_every = 100
    config.checkpoint_every = 500
    config.image_every = 1000
    config.keep_checkpoints = 3
    config.max_train_seconds = 0  # A wall-clock budget per invocation (0: none); benchmarks use it.
    # XLA made the DCGAN step 60% slower on 2 CPU cores (see benchmarks/); try it on GPUs.
    config.jit_compile = False
    config.export_name = f"{model}_{dataset}"
    config.model_config = ml_collections.ConfigDict()
    return config


def shrink_for_smoke(config):
    """A few tiny steps: what tests run so that every config is exercised."""
    config.batch_size = 8
    config.train_steps = 2
    config.log_every = 1
    config.checkpoint_every = 2
    config.image_every = 2
    return config


def gan_model_config(config, latent_dim=100):
    """GAN hyperparameters every adversarial config starts from (Radford et al. 2015's Adam)."""
    config.model_config.latent_dim = latent_dim
    config.model_config.loss = "non_saturating"
    config.model_config.real_label = 1.0
    config.model_config.generator_learning_rate = 2e-4
    config.model_config.discriminator_learning_rate = 2e-4
    config.model_config.beta_1 = 0.5
    return config
