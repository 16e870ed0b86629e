"""Model families. Importing this package registers every model with `zoo.registry`.

The contract between a model and the shared machinery (trainer, exporter):
- the factory registered with `@register(name)` builds and compiles the model from
  `config.model_config` and the data's `zoo.data.DataSpec` (images, paired images or text),
  refusing data of another kind in one line;
- `model.build_for_training()` creates every variable (networks and optimizer slots), so a
  checkpoint restores eagerly and a distribution strategy mirrors them;
- `model.train_step(batch, seed)` performs one update from a batch dict (`image` in [-1, 1],
  `label`) and a stateless seed (int64[2], distinct for every step and replica) and returns a dict
  of scalar losses; it is traced by the trainer's `tf.function` inside `strategy.run`;
- `model.checkpoint_items()` names what a checkpoint holds;
- optionally `model.batches_per_step` (default 1): the trainer then feeds that many batches a step
  as one tensor (WGAN-GP's critic updates each read their own batch);
- `model.serving_signatures()` returns the `tf.function`s the exporter writes, keyed by signature
  name (`serving_default` first); the export saves exactly the variables they read;
- `model.interface()` declares them (`zoo.contract`): each input's role, the evaluations that
  apply and the preview grid; the exporter checks the declaration against the functions, and the
  trainer, evaluator, sampler and tuner read only it;
  `model.export_info()` adds JSON facts to the export's assets.extra.
"""

from zoo.models import (  # noqa: F401  (registration side effect)
    cgan, char_lstm, dcgan, gan, gpt, infogan, keras_io_dcgan, pix2pix, pixelcnn, vae, wgan_gp)
