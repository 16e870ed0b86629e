"""Diffusion (zoo.models.diffusion): the noise schedules against the forward process they define,
the training loss on a known input, DDIM against independent implementations (deterministic at
eta = 0, DDPM's ancestral sampler at eta = 1 and steps = T), classifier-free guidance, shapes for
gray and RGB, exact resume, in-graph input checks, and what a SavedModel client sees.

The smoke configs have T = 20 timesteps. Networks get random weights everywhere (`randomize`):
at initialization the zero-initialized convolutions would make the output ignore t and the label,
and the checks below would pass for a sampler that mixed them up.
"""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests import helpers, model_checks
from zoo import config as config_lib
from zoo import contract, export, kinds, registry, train
from zoo.data import DataSpec
from zoo.errors import UserError
from zoo.metrics import sampling
from zoo.models import diffusion
from zoo.models.base import MAX_SERVING_BATCH

SMALL = (8, 8, 1)


def build(image_shape=SMALL, conditional=False, randomized=True, **overrides):
    """The smoke config's tiny model (T = 20), built, with random weights unless `randomized` is False."""
    keras.utils.set_random_seed(0)
    config = config_lib.load("cddpm_fashion_mnist" if conditional else "ddpm_fashion_mnist", smoke=True).model_config
    config.update(overrides)
    model = registry.get("ddpm")(config, DataSpec("images", image_shape=image_shape, num_classes=10))
    model.build_for_training()
    if randomized:
        randomize(model.sampling_network)
    return model


def randomize(network, scale=0.15, seed=0):
    rng = np.random.default_rng(seed)
    for variable in network.variables:
        variable.assign(rng.normal(0.0, scale, variable.shape).astype(np.float32))


def alpha_bars(betas):
    """alpha_bar_t by iterating alpha_bar_t = alpha_bar_{t-1} (1 - beta_t), in float64."""
    values, product = [], 1.0
    for beta in betas:
        product *= 1.0 - beta
        values.append(product)
    return np.array(values)


def noise(seed, stream, shape):
    return tf.random.stateless_normal(shape, seed=tf.constant([seed, stream], tf.int64)).numpy().astype(np.float64)


def eps_of(model, x, t, label=None, guidance=1.0):
    """The sampling network's noise estimate for one image, guided as Ho & Salimans define it."""
    network = model.sampling_network
    x = tf.constant(x[None], tf.float32)
    t = tf.constant([float(t)])
    if label is None:
        return network((x, t)).numpy()[0].astype(np.float64)
    conditional = network((x, t, tf.constant([label], tf.int64))).numpy()[0].astype(np.float64)
    unconditional = network((x, t, tf.constant([model.num_classes], tf.int64))).numpy()[0].astype(np.float64)
    return unconditional + guidance * (conditional - unconditional)


# ---- the schedule ---------------------------------------------------------------------------------

@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_closed_form_q_of_x_t_given_x_0_matches_iterating_the_forward_process(schedule):
    """q(x_t | x_0) = N(sqrt(alpha_bar_t) x_0, (1 - alpha_bar_t) I): exactly, by iterating the mean
    and variance of x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps; and by simulation, 20,000
    chains iterated step by step against draws of the model's closed-form q_sample."""
    model = build(timesteps=50, schedule=schedule, randomized=False)
    betas = diffusion.beta_schedule(schedule, 50)
    x0 = 0.7
    mean, variance, means, variances = x0, 0.0, [], []
    for beta in betas:
        mean, variance = math.sqrt(1 - beta) * mean, (1 - beta) * variance + beta
        means.append(mean)
        variances.append(variance)
    np.testing.assert_allclose(np.sqrt(model.alphas_cumprod) * x0, means, rtol=1e-10)
    np.testing.assert_allclose(1 - model.alphas_cumprod, variances, rtol=1e-10)

    rng = np.random.default_rng(0)
    chains = np.full(20000, x0)
    for t, beta in enumerate(betas):
        chains = np.sqrt(1 - beta) * chains + np.sqrt(beta) * rng.standard_normal(chains.shape)
        if t in (0, 10, 25, 49):
            images = tf.fill([20000, 1, 1, 1], x0)
            closed = model.q_sample(images, tf.fill([20000], t), tf.random.stateless_normal([20000, 1, 1, 1], [t, 1]))
            closed = closed.numpy().ravel()
            error = 5 * math.sqrt(variances[t] / 20000) + 1e-9
            assert abs(chains.mean() - means[t]) < error and abs(closed.mean() - means[t]) < error, t
            assert abs(chains.var() - variances[t]) < 0.05 * variances[t] + 1e-6, t
            assert abs(closed.var() - variances[t]) < 0.05 * variances[t] + 1e-6, t


def test_schedules_are_the_papers():
    linear = diffusion.beta_schedule("linear", 1000)
    assert linear[0] == pytest.approx(1e-4) and linear[-1] == pytest.approx(0.02)  # Ho et al. 2020.
    np.testing.assert_allclose(np.diff(linear), np.diff(linear)[0], rtol=1e-9)
    # Nichol & Dhariwal 2021: alpha_bar(t) = f(t) / f(0), f(t) = cos((t / T + s) / (1 + s) * pi / 2) ** 2.
    cosine = alpha_bars(diffusion.beta_schedule("cosine", 1000))
    f = [math.cos((t / 1000 + 0.008) / 1.008 * math.pi / 2) ** 2 for t in range(1001)]
    for t in (0, 100, 500, 900):  # Index t is the paper's t + 1.
        assert cosine[t] == pytest.approx(f[t + 1] / f[0], rel=1e-9)
    assert cosine[-1] < 1e-4 and alpha_bars(linear)[-1] < 1e-4  # Both end at (nearly) pure noise.
    # Other T: the linear schedule scales so that it still ends near pure noise.
    assert alpha_bars(diffusion.beta_schedule("linear", 20))[-1] < 1e-3
    with pytest.raises(UserError, match="unknown noise schedule 'quadratic'; known: linear, cosine"):
        diffusion.beta_schedule("quadratic", 10)


def test_sampling_visits_the_trailing_timesteps():
    def visited(steps, timesteps=20):
        return [int(diffusion.sampling_timesteps(steps, timesteps, k)[0]) for k in range(steps)]

    assert visited(20) == list(range(19, -1, -1))
    assert visited(5) == [19, 15, 11, 7, 3]
    assert visited(3) == [19, 12, 5]
    assert visited(1) == [19]
    assert diffusion.sampling_timesteps(5, 20, 4)[1] == -1  # After the last step: x0 itself.


# ---- training -------------------------------------------------------------------------------------

def test_training_loss_on_a_known_input():
    """The step's loss is the mean squared error of the network's noise estimate for x_t drawn in
    closed form from the step's timesteps and noise (split 0 and 1 of the step's seed), recomputed
    here in float64 with alpha_bar by iteration."""
    model = build(randomized=False)
    randomize(model.network)
    images = np.random.default_rng(1).uniform(-1, 1, (6, *SMALL)).astype(np.float32)
    seed = tf.constant([3, 4], tf.int64)
    seeds = tf.random.experimental.stateless_split(seed, 3)
    t = tf.random.stateless_uniform([6], seeds[0], 0, 20, dtype=tf.int32).numpy()
    eps = tf.random.stateless_normal([6, *SMALL], seeds[1]).numpy().astype(np.float64)
    alpha_bar = alpha_bars(diffusion.beta_schedule("linear", 20))[t][:, None, None, None]
    x_t = np.sqrt(alpha_bar) * images + np.sqrt(1 - alpha_bar) * eps
    predicted = model.network((tf.constant(x_t, tf.float32), tf.constant(t, tf.float32))).numpy()
    expected = np.mean((eps - predicted) ** 2)
    loss = tf.function(model.train_step)({"image": tf.constant(images), "label": tf.zeros([6], tf.int64)}, seed)["loss"]
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    assert len(set(t)) > 1  # Rows really get different timesteps.


def test_label_dropout_replaces_labels_by_the_no_label_token():
    model = build(conditional=True, label_dropout=0.3, randomized=False)
    labels = tf.constant(np.arange(4000) % 10, tf.int64)
    _, _, dropped = model.training_draws(tf.zeros([4000, *SMALL]), labels, tf.constant([0, 1], tf.int64))
    dropped = dropped.numpy()
    null = dropped == 10
    assert abs(null.mean() - 0.3) < 0.03
    np.testing.assert_array_equal(dropped[~null], labels.numpy()[~null])


@pytest.mark.parametrize("width", [8, 16])
def test_the_noise_estimate_depends_on_the_timestep_and_the_label(width):
    """The embedding reaches the output through group normalization even in narrow networks (with
    one channel per group a normalization would remove a per-channel shift entirely)."""
    model = build(conditional=True, width=width)
    x = tf.tile(tf.random.stateless_normal([1, *SMALL], [0, 0]), [3, 1, 1, 1])
    eps = model.sampling_network((x, tf.constant([19.0, 5.0, 5.0]), tf.constant([1, 1, 10], tf.int64))).numpy()
    assert np.abs(eps[0] - eps[1]).mean() > 1e-3 and np.abs(eps[1] - eps[2]).mean() > 1e-3


def test_train_step():
    model_checks.check_train_step("ddpm")


def test_checkpoint_holds_every_variable(tmp_path):
    model_checks.check_checkpoint_holds_every_variable("ddpm", tmp_path)


def test_ema_weights_sample_and_export():
    model = build(randomized=False, ema_decay=0.9)
    assert model.sampling_network is model.ema_network and "ema_network" in model.checkpoint_items()
    step = tf.function(model.train_step)
    for index in range(3):
        step(model_checks.fake_batch(4, SMALL), tf.constant([0, index], tf.int64))
    for average, value in zip(model.ema_network.trainable_variables, model.network.trainable_variables):
        assert not np.array_equal(average.numpy(), value.numpy())


@pytest.mark.integration  # every-family resume; the fast tier resumes dcgan and mlp_gan (test_train.py)
def test_resume_continues_exactly(tiny_fashion_mnist, tmp_path):
    """10 straight steps == 5 steps, a new trainer, 5 more: identical network, EMA and optimizer
    (class-conditional, so the label dropout's draws are covered too)."""
    def config(steps):
        return helpers.smoke_config("cddpm", tiny_fashion_mnist, train_steps=steps, checkpoint_every=100,
                                    image_every=0)

    def weights(workdir):
        model, _, step = train.restore_model(str(workdir))
        return step, [v.numpy() for item in model.checkpoint_items().values() for v in item.values]

    train.train_and_evaluate(config(10), str(tmp_path / "straight"))
    train.train_and_evaluate(config(5), str(tmp_path / "resumed"))
    train.train_and_evaluate(config(10), str(tmp_path / "resumed"))
    (step_a, a), (step_b, b) = weights(tmp_path / "straight"), weights(tmp_path / "resumed")
    assert step_a == step_b == 10 and len(a) == len(b) > 0
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


# ---- sampling -------------------------------------------------------------------------------------

def reference_ddim(model, seed, steps, eta, label=None, guidance=1.0):
    """DDIM (Song et al. 2021, eq. 12) for one image, in float64, steps dividing T: t_k = T - 1 - k T / S."""
    timesteps = model.timesteps
    alpha_bar = alpha_bars(model.betas)
    visited = [timesteps - 1 - k * (timesteps // steps) for k in range(steps)]
    x = noise(seed, 0, model.image_shape)
    for k, t in enumerate(visited):
        a_t = alpha_bar[t]
        a_prev = alpha_bar[visited[k + 1]] if k + 1 < steps else 1.0
        eps = eps_of(model, x, t, label, guidance)
        x0 = np.clip((x - np.sqrt(1 - a_t) * eps) / np.sqrt(a_t), -1, 1)
        eps = (x - np.sqrt(a_t) * x0) / np.sqrt(1 - a_t)
        sigma = eta * np.sqrt((1 - a_prev) / (1 - a_t)) * np.sqrt(1 - a_t / a_prev)
        x = np.sqrt(a_prev) * x0 + np.sqrt(1 - a_prev - sigma**2) * eps
        if sigma > 0:
            x = x + sigma * noise(seed, k + 1, model.image_shape)
    return x


def reference_ancestral(model, seed):
    """DDPM's ancestral sampler (Ho et al. 2020, eqs. 6-7) for one image, in float64: x_{t-1} drawn
    from q(x_{t-1} | x_t, x0) with x0 predicted (and clipped), mean
    beta_t sqrt(abar_{t-1}) / (1 - abar_t) x0 + (1 - abar_{t-1}) sqrt(alpha_t) / (1 - abar_t) x_t and
    variance beta_t (1 - abar_{t-1}) / (1 - abar_t); step k's noise from (seed, k + 1)."""
    betas = model.betas
    alpha_bar = alpha_bars(betas)
    x = noise(seed, 0, model.image_shape)
    for k, t in enumerate(range(model.timesteps - 1, -1, -1)):
        a_prev = alpha_bar[t - 1] if t > 0 else 1.0
        eps = eps_of(model, x, t)
        x0 = np.clip((x - np.sqrt(1 - alpha_bar[t]) * eps) / np.sqrt(alpha_bar[t]), -1, 1)
        mean = (betas[t] * np.sqrt(a_prev) / (1 - alpha_bar[t]) * x0
                + (1 - a_prev) * np.sqrt(1 - betas[t]) / (1 - alpha_bar[t]) * x)
        variance = betas[t] * (1 - a_prev) / (1 - alpha_bar[t])
        x = mean + np.sqrt(variance) * noise(seed, k + 1, model.image_shape)
    return x


def reference_dpm_solver(model, seed, steps, order, label=None, guidance=1.0):
    """DPM-Solver++ (Lu et al. 2022, Algorithm 2: multistep, data prediction) for one image in
    float64, written in log-SNR time: lambda = log(alpha / sigma), h_i = lambda_i - lambda_{i-1},
    x_i = (sigma_i / sigma_{i-1}) x_{i-1} - alpha_i (exp(-h_i) - 1) D_i with D_i the clipped data
    prediction (order 1) or (1 + 1/(2 r_i)) x0_{i-1} - 1/(2 r_i) x0_{i-2}, r_i = h_{i-1} / h_i (order
    2, from the second step on); the last step, to alpha = 1, sigma = 0 (lambda infinite), is
    first order: x = x0. Steps dividing T: t_k = T - 1 - k T / S."""
    timesteps = model.timesteps
    alpha_bar = alpha_bars(model.betas)
    visited = [timesteps - 1 - k * (timesteps // steps) for k in range(steps)]
    alpha, sigma = np.sqrt(alpha_bar), np.sqrt(1 - alpha_bar)
    log_snr = np.log(alpha / sigma)
    x = noise(seed, 0, model.image_shape)
    previous_x0 = previous_h = None
    for k, t in enumerate(visited):
        x0 = np.clip((x - sigma[t] * eps_of(model, x, t, label, guidance)) / alpha[t], -1, 1)
        if k + 1 == steps:
            return x0
        s = visited[k + 1]
        h = log_snr[s] - log_snr[t]
        data = x0
        if order == 2 and previous_x0 is not None:
            r = previous_h / h
            data = (1 + 1 / (2 * r)) * x0 - 1 / (2 * r) * previous_x0
        x = sigma[s] / sigma[t] * x - alpha[s] * (np.exp(-h) - 1) * data
        previous_x0, previous_h = x0, h


def sample(model, seeds, steps, eta, labels=None, guidance=None, order=None):
    rows = len(seeds)
    steps = steps if isinstance(steps, list) else [steps] * rows
    eta = eta if isinstance(eta, list) else [eta] * rows
    if order is not None:
        order = tf.constant(order if isinstance(order, list) else [order] * rows, tf.int64)
    if labels is not None:
        guidance = guidance if isinstance(guidance, list) else [guidance] * rows
    return model.sample_images(tf.constant(seeds, tf.int64), tf.constant(steps, tf.int64),
                               tf.constant(eta, tf.float32), None if labels is None else tf.constant(labels, tf.int64),
                               None if labels is None else tf.constant(guidance, tf.float32), order=order).numpy()


def test_ddim_with_eta_1_and_every_timestep_is_ddpm_ancestral_sampling():
    model = build()
    images = sample(model, [7, 8], model.timesteps, 1.0)
    for row, seed in enumerate([7, 8]):
        np.testing.assert_allclose(images[row], reference_ancestral(model, seed), atol=2e-4)
    # The noise matters: the same seeds without it (eta 0) end elsewhere.
    assert np.abs(sample(model, [7], model.timesteps, 0.0)[0] - images[0]).max() > 0.05


def test_ddim_with_eta_0_is_deterministic_and_matches_the_reference():
    model = build()
    images = sample(model, [3, 4], 5, 0.0)
    for row, seed in enumerate([3, 4]):
        np.testing.assert_allclose(images[row], reference_ddim(model, seed, 5, 0.0), atol=2e-4)
    np.testing.assert_array_equal(images, sample(model, [3, 4], 5, 0.0))
    assert not np.allclose(images[0], images[1])


def test_dpm_solver_2m_matches_the_float64_reference():
    model = build()
    images = sample(model, [3, 4], 5, 0.0, order=2)
    for row, seed in enumerate([3, 4]):
        np.testing.assert_allclose(images[row], reference_dpm_solver(model, seed, 5, order=2), atol=2e-4)
    # A second-order sampler, not DDIM again: the same seeds and steps end elsewhere.
    assert np.abs(images - sample(model, [3, 4], 5, 0.0, order=1)).max() > 1e-3  # 5x the tolerance above


def test_dpm_solver_first_order_is_ddim():
    """DPM-Solver++'s first-order update in log-SNR time is DDIM at eta 0 (the float64 references
    agree), and order 1 is what the export's DDIM rows run."""
    model = build()
    for seed in (3, 4):
        first_order = reference_dpm_solver(model, seed, 5, order=1)
        np.testing.assert_allclose(first_order, reference_ddim(model, seed, 5, 0.0), atol=1e-6)
        np.testing.assert_allclose(sample(model, [seed], 5, 0.0, order=1)[0], first_order, atol=2e-4)


def test_dpm_solver_under_guidance_matches_the_reference_and_rows_mix_orders():
    model = build(conditional=True)
    guided = sample(model, [5, 6], 4, 0.0, labels=[2, 7], guidance=3.0, order=2)
    for row, (seed, label) in enumerate([(5, 2), (6, 7)]):
        np.testing.assert_allclose(guided[row], reference_dpm_solver(model, seed, 4, 2, label, 3.0), atol=2e-4)
    mixed = sample(model, [5, 6, 7], [4, 5, 2], [0.0, 0.0, 0.5], labels=[2, 7, 1], guidance=[3.0, 1.0, 2.0],
                   order=[2, 1, 1])
    np.testing.assert_allclose(mixed[0], guided[0], atol=1e-5)
    np.testing.assert_allclose(mixed[1], sample(model, [6], 5, 0.0, labels=[7], guidance=1.0, order=1)[0], atol=1e-5)
    np.testing.assert_allclose(mixed[2], sample(model, [7], 2, 0.5, labels=[1], guidance=2.0, order=1)[0], atol=1e-5)


def test_each_row_is_a_function_of_its_own_inputs():
    """Rows asking for different steps and eta in one batch get what each gets alone (TF Serving may
    batch requests together), and eta in (0, 1) matches the reference."""
    model = build()
    mixed = sample(model, [3, 4, 5], [5, 2, 10], [0.0, 1.0, 0.5])
    np.testing.assert_allclose(mixed[0], sample(model, [3], 5, 0.0)[0], atol=1e-5)
    np.testing.assert_allclose(mixed[1], sample(model, [4], 2, 1.0)[0], atol=1e-5)
    np.testing.assert_allclose(mixed[2], reference_ddim(model, 5, 10, 0.5), atol=2e-4)


def test_classifier_free_guidance():
    """guidance w: eps_uncond + w (eps_cond - eps_uncond), per row; w = 1 is the conditional model."""
    model = build(conditional=True)
    x = tf.random.stateless_normal([3, *SMALL], [0, 0])
    t = tf.constant([19, 5, 0])
    labels = tf.constant([2, 2, 7], tf.int64)
    guidance = tf.constant([0.0, 1.0, 3.0])
    got = model.predict_noise(model.sampling_network, x, t, labels, guidance).numpy()
    for row in range(3):
        expected = eps_of(model, x.numpy()[row], int(t[row]), int(labels[row]), float(guidance[row]))
        np.testing.assert_allclose(got[row], expected, atol=1e-5)
    conditional_only = model.predict_noise(model.sampling_network, x, t, labels, tf.ones([3])).numpy()
    for row in range(3):
        np.testing.assert_allclose(conditional_only[row], eps_of(model, x.numpy()[row], int(t[row]), int(labels[row])),
                                   atol=1e-5)
    guided = sample(model, [1], 4, 0.0, [2], 3.0)[0]
    np.testing.assert_allclose(guided, reference_ddim(model, 1, 4, 0.0, 2, 3.0), atol=2e-4)
    assert np.abs(guided - sample(model, [1], 4, 0.0, [5], 3.0)[0]).max() > 0.01  # The label matters.


def test_the_u_net_levels_follow_the_image_size():
    sizes = {(28, 28, 1): [28, 14, 7], (32, 32, 3): [32, 16, 8], (64, 64, 3): [64, 32, 16, 8], (16, 16, 3): [16, 8]}
    for image_shape, expected in sizes.items():
        assert [size for size, _ in diffusion.resolutions(image_shape)] == expected


@pytest.mark.parametrize("image_shape", [(28, 28, 1), (32, 32, 3), (64, 64, 3)])
def test_gray_and_rgb_shapes(image_shape):
    """The sampler's images at each size (serving_default runs the same sampler at its defaults, for
    every model in tests/test_serving_export.py; 16x16 RGB in the folder smoke test below)."""
    model = build(image_shape, conditional=image_shape[-1] == 3)
    request = model.interface().signature("sample").example_request(3)
    images = model.serving_signatures()["sample"](**request)["images"].numpy()
    assert images.dtype == np.uint8 and images.shape == (3, *image_shape)


# ---- serving --------------------------------------------------------------------------------------

def test_signatures_sample_the_declared_defaults_and_refuse_bad_inputs():
    model = build(conditional=True)
    signatures = model.serving_signatures()
    interface = model.interface()
    spec = interface.signature("sample")
    assert [item.name for item in spec.inputs] == ["seed", "steps", "eta", "label", "guidance", "order"]
    assert (spec.input_with("parameter").default, spec.input_with("parameter").high) == (4, 20)
    seeds = tf.constant([0, 1], tf.int64)
    labels = tf.constant([3, 4], tf.int64)
    default = signatures["serving_default"](seed=seeds, label=labels)["images"].numpy()
    explicit = signatures["sample"](**sampling.sample_request(spec, seeds.numpy(), labels.numpy()))["images"].numpy()
    np.testing.assert_array_equal(default, explicit)
    assert signatures["serving_default"](seed=tf.zeros([0], tf.int64), label=tf.zeros([0], tf.int64))[
        "images"].shape == (0, *SMALL)

    def call(**changes):
        request = {"seed": [0, 1], "steps": [2, 2], "eta": [0.0, 0.0], "label": [1, 2], "guidance": [1.0, 1.0],
                   "order": [1, 2]}
        request.update(changes)
        dtypes = {"seed": tf.int64, "steps": tf.int64, "label": tf.int64, "eta": tf.float32, "guidance": tf.float32,
                  "order": tf.int64}
        return signatures["sample"](**{key: tf.constant(value, dtypes[key]) for key, value in request.items()})

    call()  # Valid.
    errors = {
        "steps: every value must be between 1 and 20": [dict(steps=[0, 2]), dict(steps=[2, 21])],
        "eta: every value must be a finite number between 0 and 1": [dict(eta=[-0.1, 0.0]), dict(eta=[0.0, 1.5]),
                                                                     dict(eta=[float("nan"), 0.0])],
        "guidance: every value must be a finite number between 0 and 20": [dict(guidance=[21.0, 1.0]),
                                                                          dict(guidance=[float("nan"), 1.0])],
        "label: every label must be between 0 and 9": [dict(label=[10, 0]), dict(label=[-1, 0])],
        "steps: needs one value per seed": [dict(steps=[2])],
        "order: every value must be 1 or 2": [dict(order=[0, 1]), dict(order=[3, 1])],
        "order: needs one value per seed": [dict(order=[1])],
        "DPM-Solver\\+\\+\\(2M\\) \\(order 2\\) is deterministic: eta must be 0": [dict(eta=[0.0, 0.5])],
        "guidance: needs one value per seed": [dict(guidance=[1.0, 1.0, 1.0])],
    }
    for message, changes in errors.items():
        for change in changes:
            with pytest.raises(tf.errors.InvalidArgumentError, match=message):
                call(**change)
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"seed: batch size must be between 0 and {MAX_SERVING_BATCH}"):
        model_checks.serve(signatures["serving_default"], np.zeros([MAX_SERVING_BATCH + 1], np.int64))
    model_checks.assert_input_checked_before_lookups(signatures["sample"], "label")
    model_checks.assert_input_checked_before_lookups(signatures["serving_default"], "label")


def test_parameters_are_set_by_name_within_their_declared_range():
    spec = build(randomized=False).interface().signature("sample")
    request = sampling.sample_request(spec, [5, 6], parameters={"steps": 2.0, "eta": 0.5})
    assert request["steps"].dtype == np.int64 and list(request["steps"]) == [2, 2]
    assert request["eta"].dtype == np.float32 and list(request["eta"]) == [0.5, 0.5]
    for parameters, message in [({"stpes": 2}, "sample has no parameter 'stpes'; its parameters: steps (default 4, 1..20), "
                                               "eta (default 0.0, 0.0..1.0), order (default 1, 1..2)"),
                                ({"steps": 21}, "parameter steps must be an integer between 1 and 20, got 21"),
                                ({"steps": 2.5}, "parameter steps must be an integer between 1 and 20, got 2.5"),
                                ({"eta": -1}, "parameter eta must be a number between 0.0 and 1.0, got -1")]:
        with pytest.raises(UserError) as error:
            sampling.sample_request(spec, [5], parameters=parameters)
        assert str(error.value) == message
    assert sampling.parse_parameters(["steps=10", "eta=0.5"]) == {"steps": 10.0, "eta": 0.5}
    with pytest.raises(UserError, match="--parameter must be name=number"):
        sampling.parse_parameters(["steps"])


@pytest.mark.integration  # one end-to-end run per model family, as in model_checks.ModelChecks
def test_smoke_training_on_an_rgb_folder_exports_samples_and_evaluates(rgb_folder, tmp_path):
    model_checks.check_smoke_training("ddpm", rgb_folder, tmp_path / "run", tmp_path / "exports")


def test_conditional_export_samples_with_chosen_steps_from_the_command_line(tiny_fashion_mnist, tmp_path):
    """zoo-sample and zoo-eval set a class-conditional export's sampler parameters by name (a bad
    one's message: test_parameters_are_set_by_name_within_their_declared_range). The export is
    the smoke model's with random weights: what is checked is the commands, not training (the
    trainer's export of every family: the smoke trainings of the integration tier)."""
    path = export.export_model(build((28, 28, 1), conditional=True), str(tmp_path / "exports"), "cddpm_fashion_mnist",
                               info={"dataset": "fashion_mnist"})
    interface = contract.from_export(path)
    assert interface.evaluation(kinds.SAMPLES).signature == "sample"
    out = tmp_path / "grid.png"
    done = helpers.run_binary("sample", f"--export={path}", "--num=20", "--parameter=steps=2",
                              "--parameter=guidance=3", f"--out={out}")
    assert done.returncode == 0, done.stderr
    assert "one row per class (10 classes)" in done.stdout and "steps=2, guidance=3" in done.stdout and out.exists()
    evaluated = helpers.run_binary("evaluate", f"--export={path}", f"--data_dir={tiny_fashion_mnist}",
                                   "--num_samples=20", "--reference_examples=32", "--parameter=steps=1",
                                   f"--out={tmp_path / 'eval.json'}")
    assert evaluated.returncode == 0, evaluated.stderr
    import json

    record = json.loads((tmp_path / "eval.json").read_text())
    assert record["parameters"] == {"steps": 1.0} and record["metrics"]["fid"] > 0
