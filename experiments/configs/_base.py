"""Trainer defaults shared by every experiment config."""

import ml_collections


def trainer_config(model, dataset="fashion_mnist"):
    config = ml_collections.ConfigDict()
    config.model = model
    config.dataset = dataset
    config.data_dir = ml_collections.FieldReference(None, field_type=str)
    config.image_size = ml_collections.FieldReference(None, field_type=int)
    config.channels = ml_collections.FieldReference(None, field_type=int)
    config.direction = ml_collections.FieldReference(None, field_type=str)  # paired_folder: AtoB or BtoA.
    # Training examples (text files: bytes) held out of train as the "validation" split; None: the
    # dataset's default (Fashion-MNIST: the last 10,000 of 60,000; others a tenth), 0: none.
    config.validation_size = ml_collections.FieldReference(None, field_type=int)
    # Small data: only these class ids ("7", "0,2"; every split, so FID references match) and at
    # most this many training examples (the first ones of the selected classes).
    config.train_split = "train"  # What the run trains on; TFDS-style slices like "train[:1%]" select a part.
    config.classes = ml_collections.FieldReference(None, field_type=str)
    config.max_examples = ml_collections.FieldReference(None, field_type=int)
    # Transfer learning (zoo.train.transfer): start from a run's workdir, a checkpoint or an export
    # version dir (step 0, fresh optimizers); init_partial: comma-separated regular expressions of
    # variable paths allowed to keep their fresh initialization where the source does not fit;
    # freeze: comma-separated regular expressions of variable paths no optimizer step changes.
    config.init_from = ml_collections.FieldReference(None, field_type=str)
    config.init_partial = ""
    config.freeze = ""
    config.batch_size = 64
    config.train_steps = 1000
    config.seed = 0
    config.log_every = 100
    config.checkpoint_every = 500
    config.image_every = 1000
    config.keep_checkpoints = 3
    config.max_train_seconds = 0  # A wall-clock budget per invocation (0: none); benchmarks use it.
    # Every step is checked for non-finite losses and weights: "stop" ends the run naming the step
    # and the last finite checkpoint; "skip" drops the update and stops after max_skipped_updates
    # non-finite updates in a row. No checkpoint or export is ever written from non-finite weights.
    config.nan_policy = "stop"
    config.max_skipped_updates = 10
    # Evaluation during training (zoo.train.evaluation): FID/KID of eval_samples fixed-seed images
    # against eval_split every eval_every steps (0: off); the best checkpoint is kept in best/.
    # eval_metric may name any training metric of the model's kinds of evaluation (zoo.kinds), e.g.
    # bits_per_dim; "fid" stands for the model's primary one when it measures no FID (text: bits_per_byte).
    # Selection reads the validation split held out of train; "test" is for reported numbers.
    config.eval_every = 0
    config.eval_samples = 2000
    config.eval_split = "validation"
    config.eval_metric = "fid"
    config.eval_reference_examples = 10000
    config.early_stopping_patience = 0  # Stop after this many evaluations without improvement (0: never).
    config.feature_model = ml_collections.FieldReference(None, field_type=str)  # None: the shipped network.
    config.export_checkpoint = "best"  # With evaluation on, export the best checkpoint ("latest" to not).
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


def gan_aids(config):
    """The training aids every GAN takes (zoo.models.gan.GAN), all off: `--set` switches them on,
    and a GAN that cannot use one refuses it in one line saying why."""
    config.model_config.diffaugment = ""  # DiffAugment policy, e.g. "color,translation,cutout" (off: "").
    # Exponential moving average of the generator's weights, sampled/evaluated/exported instead of
    # the raw weights (0: off; 0.999 averages over about the last thousand steps), and what it does
    # with batch-norm statistics: "average" them with the weights or "copy" the live generator's.
    config.model_config.ema_decay = 0.0
    config.model_config.ema_batch_norm = "average"
    config.model_config.real_label = 1.0  # Below 1: one-sided label smoothing (losses with labels only).
    # Penalties on the discriminator (0: off): R1 on real data, gamma / 2 * E||grad D(x)||^2, lazily
    # every r1_interval-th update when above 1; the gradient penalty on real/fake interpolates.
    config.model_config.r1_gamma = 0.0
    config.model_config.r1_interval = 1
    config.model_config.gradient_penalty_weight = 0.0
    config.model_config.n_critic = 1  # Discriminator updates per generator update, each on its own batch.
    return config


def gan_model_config(config, latent_dim=100):
    """GAN hyperparameters every adversarial config starts from (Radford et al. 2015's Adam), the
    aids off. Different generator and discriminator learning rates are TTUR (Heusel et al. 2017)."""
    config.model_config.latent_dim = latent_dim
    config.model_config.loss = "non_saturating"
    config.model_config.generator_learning_rate = 2e-4
    config.model_config.discriminator_learning_rate = 2e-4
    config.model_config.beta_1 = 0.5
    config.model_config.beta_2 = 0.999
    return gan_aids(config)


def gan_search_space(hp, smoke=False, losses=("non_saturating", "least_squares", "hinge"), widths=True,
                     diffaugment=True, ema=True, latent_dim=True):
    """The GAN knobs zoo-tune searches (see zoo.tune): config overrides chosen with `hp`.

    Learning rates are log-sampled around Radford et al.'s 2e-4 separately for the two networks
    (TTUR); smoke mode keeps the networks tiny so that tests can run several trials.
    """
    overrides = {
        "model_config.generator_learning_rate": hp.Float("generator_learning_rate", 5e-5, 2e-3, sampling="log"),
        "model_config.discriminator_learning_rate": hp.Float("discriminator_learning_rate", 5e-5, 2e-3,
                                                             sampling="log"),
        "model_config.beta_1": hp.Choice("beta_1", [0.5, 0.0]),
    }
    if losses:
        overrides["model_config.loss"] = hp.Choice("loss", list(losses))
    if widths:
        choices = [4, 8] if smoke else [32, 64, 96]
        overrides["model_config.generator_width"] = hp.Choice("generator_width", choices)
        overrides["model_config.discriminator_width"] = hp.Choice("discriminator_width", choices)
    if latent_dim:
        overrides["model_config.latent_dim"] = hp.Choice("latent_dim", [8, 16] if smoke else [64, 100, 128])
    if diffaugment:
        overrides["model_config.diffaugment"] = "color,translation,cutout" if hp.Boolean("diffaugment") else ""
    if ema:
        overrides["model_config.ema_decay"] = 0.999 if hp.Boolean("ema") else 0.0
    return overrides
