"""TF Serving warm-up requests: `assets.extra/tf_serving_warmup_requests` in every export version.

TF Serving replays these PredictionLog records (TFRecord file, at most 1000 records) when it
loads a version and before it marks the version AVAILABLE, so the first user request does not pay
for kernel creation and graph optimisation (seconds for a sampler with a while_loop). zoo writes
one batch-of-one request per signature, built from the signature's input specs and the model's
export facts, and replays the file itself before a version is renamed into place: an export whose
warm-up would fail in TF Serving never appears.
"""

import os

import numpy as np
import tensorflow as tf

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
MAX_WARMUP_RECORDS = 1000  # TF Serving reads at most this many records.

# A valid one-row value for each input name zoo's signatures use. A new input name must be added
# here (export fails naming it), so every signature is always warmed with a request it accepts.
_EXAMPLE_VALUES = {
    "seed": 0,
    "label": 0,
    "categorical": 0,
    "max_new_tokens": 1,
    "top_k": 0,
    "temperature": 1.0,
    "prompt": b"a",
    "text": b"a b",
}


def _example(name, spec, info):
    """A batch of one valid value for input `name` of TensorSpec `spec`."""
    dtype = spec.dtype.as_numpy_dtype
    shape = list(spec.shape)
    if name in ("z", "continuous"):  # Latent vectors: [None, D].
        return np.zeros([1, *shape[1:]], dtype)
    if name == "images":  # uint8 [None, None, None, None]: a mid-grey image of the model's size.
        if "image_shape" not in info:
            raise ValueError("warm-up needs the model's image_shape in export_info() for the images input")
        return np.full([1, *info["image_shape"]], 128, dtype)
    if name not in _EXAMPLE_VALUES:
        raise ValueError(f"no warm-up value for serving input {name!r} ({spec}); add one to zoo.export.warmup")
    return np.asarray([_EXAMPLE_VALUES[name]], dtype=object if spec.dtype == tf.string else dtype)


def example_inputs(function, info):
    """{input name: numpy array} with one valid row for a concrete (or input-signature) function."""
    concrete = function if hasattr(function, "structured_input_signature") else function.get_concrete_function()
    specs = concrete.structured_input_signature[1] or {
        spec.name: spec for spec in concrete.structured_input_signature[0]}
    return {name: _example(name, spec, info) for name, spec in sorted(specs.items())}


def requests(model_name, signatures, info):
    """One PredictionLog per signature (serving_default first), as TF Serving's warm-up replays them."""
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    order = sorted(signatures, key=lambda name: (name != "serving_default", name))
    logs = []
    for signature in order:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model_name
        request.model_spec.signature_name = signature
        for name, value in example_inputs(signatures[signature], info).items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
        logs.append(prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request)))
    if len(logs) > MAX_WARMUP_RECORDS:
        raise ValueError(f"{len(logs)} warm-up records; TF Serving reads at most {MAX_WARMUP_RECORDS}")
    return logs


def write(version_dir, logs):
    """Writes the records as TFRecords to `<version_dir>/assets.extra/tf_serving_warmup_requests`."""
    path = os.path.join(version_dir, WARMUP_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for log in logs:
            writer.write(log.SerializeToString())
    return path


def read(version_dir):
    """The PredictionLog records of a version's warm-up file (empty if it has none)."""
    from tensorflow_serving.apis import prediction_log_pb2

    path = os.path.join(version_dir, WARMUP_FILE)
    if not os.path.exists(path):
        return []
    logs = []
    for record in tf.data.TFRecordDataset(path):
        logs.append(prediction_log_pb2.PredictionLog.FromString(record.numpy()))
    return logs


def replay(loaded, logs):
    """Calls `loaded`'s signatures with each record's request, as TF Serving does at load time.

    Returns [(signature, {output: numpy})]; a request a signature refuses raises its error.
    """
    results = []
    for log in logs:
        request = log.predict_log.request
        signature = request.model_spec.signature_name or "serving_default"
        if signature not in loaded.signatures:
            raise ValueError(f"warm-up request for signature {signature!r}, which the model does not have "
                             f"(it has {sorted(loaded.signatures)})")
        inputs = {name: tf.constant(tf.make_ndarray(proto)) for name, proto in request.inputs.items()}
        outputs = loaded.signatures[signature](**inputs)
        results.append((signature, {name: value.numpy() for name, value in outputs.items()}))
    return results
