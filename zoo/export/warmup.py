"""TF Serving warm-up requests: `assets.extra/tf_serving_warmup_requests` in every export version.

TF Serving replays these PredictionLog records (TFRecord file, at most 1000 records) when it
loads a version and before it marks the version AVAILABLE, so the first user request does not pay
for kernel creation and graph optimisation (seconds for a sampler with a while_loop). zoo writes
one batch-of-one request per signature, built from what the model declares about each input
(`zoo.contract`), and replays the file itself before a version is renamed into place: an export whose
warm-up would fail in TF Serving never appears.
"""

import os

import tensorflow as tf

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
MAX_WARMUP_RECORDS = 1000  # TF Serving reads at most this many records.


def requests(model_name, interface):
    """One PredictionLog per declared signature (serving_default first), each a batch of one valid
    row built from the inputs' declared roles (`zoo.contract.Input.example_row`)."""
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    order = sorted(interface.signatures, key=lambda signature: (signature.name != "serving_default", signature.name))
    logs = []
    for signature in order:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model_name
        request.model_spec.signature_name = signature.name
        for name, value in signature.example_request().items():
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
