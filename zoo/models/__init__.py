"""Model families. Importing this package registers every model with `zoo.registry`.

The contract between a model and the shared machinery (trainer, exporter): every model derives
from `zoo.trainable.TrainableModel`, which declares the training side with its defaults (and
which tests/test_contract.py checks every registered model against), and declares its serving
side in `model.interface()` (`zoo.contract`):
- the factory registered with `@register(name)` builds and compiles the model from
  `config.model_config` and the data's `zoo.data.DataSpec` (images, paired images or text),
  refusing data of another kind in one line;
- `model.build_for_training()` creates every variable (networks and optimizer slots), so a
  checkpoint restores eagerly and a distribution strategy mirrors them;
- `model.train_step(batch, seed)` performs one update from a batch dict (`image` in [-1, 1],
  `label`) and a stateless seed (a [2] tensor, a function of the step alone: every replica gets the
  same one) and returns a dict of scalar losses; it is traced by the trainer's `tf.function` inside
  `strategy.run`. So that any number of replicas trains as one device would, every random draw goes
  through `zoo.models.base` (`replica_normal`, `replica_uniform`, `dropout`, `split_seed`,
  `fold_seed`: drawn for the global batch, each replica keeping its rows), batch norm is
  `zoo.layers.SyncBatchNormalization` and updates go through `base.apply_update` (gradients
  averaged over the global batch; a gradient clip sees the global batch's gradient);
- `model.jit_compile_unsupported` (default ""): a one-line reason why XLA cannot compile the step;
  the trainer then refuses `jit_compile=True` for the model with it (every model of zoo compiles);
- `model.checkpoint_items()` names what a checkpoint holds, and `model.averaged_networks()`
  (default {}) which of those items are weight averages of which networks;
- `model.batches_per_step` (default 1): the trainer feeds that many batches a step as one tensor
  (WGAN-GP's critic updates each read their own batch); the model deals the tensor out (example i
  to batch i mod n), so each replica's contiguous share holds its share of each;
- `model.serving_signatures()` returns the `tf.function`s the exporter writes, keyed by signature
  name (`serving_default` first); the export saves exactly the variables they read;
- `model.interface()` declares them (`zoo.contract`): each input's role, the evaluations that
  apply and the preview grid; the exporter checks the declaration against the functions, and the
  trainer, evaluator, sampler and tuner read only it;
  `model.export_info()` (default {}) adds JSON facts to the export's assets.extra.
"""

from zoo.models import (  # noqa: F401  (registration side effect)
    cgan, char_lstm, dcgan, diffusion, gan, gpt, infogan, keras_io_dcgan, pix2pix, pixelcnn, sngan, vae, wgan_gp)
