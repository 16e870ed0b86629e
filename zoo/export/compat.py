"""Checks that an export runs on a stock TF Serving build, without the binary.

A stock `tensorflow_model_server` (the tensorflow/serving image) links TensorFlow's core op
kernels and no Python. So an export serves if every op its graph and function library use is
a core TensorFlow op (one `tf.raw_ops` exposes; ops from `tf.load_op_library` or add-on packages
such as tensorflow-text are not in the stock build) other than the ops that call back into the
Python interpreter (`tf.py_function`, `tf.numpy_function`), which the server registers but
cannot run. The ops are read from the SavedModel's `stripped_op_list`, which TensorFlow writes
from the graph and every function in it (nested while-loop bodies included).
"""

import os

import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.util import deprecation

# Registered in the server but backed by the Python interpreter, which the server does not have.
PYTHON_OPS = frozenset({"PyFunc", "PyFuncStateless", "EagerPyFunc"})


def load_into_session(session, version_dir):
    """The SavedModel's MetaGraphDef, loaded into `session` by the graph-mode loader (restore op,
    then init op) that `saved_model_cli run` and, in C++, tensorflow_model_server use. TensorFlow
    marks that Python entry point deprecated in favour of `tf.saved_model.load`, which rebuilds the
    Python objects instead and so is not what a server does; the notice is not shown."""
    with deprecation.silence():
        return tf.compat.v1.saved_model.loader.load(session, ["serve"], version_dir)


def saved_model_proto(version_dir):
    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(version_dir, "saved_model.pb"), "rb") as f:
        proto.ParseFromString(f.read())
    return proto


def graph_ops(version_dir):
    """Every op type the SavedModel's graph and functions use (from its stripped_op_list, and the
    nodes themselves as a cross-check)."""
    ops = set()
    for meta_graph in saved_model_proto(version_dir).meta_graphs:
        ops.update(op.name for op in meta_graph.meta_info_def.stripped_op_list.op)
        ops.update(node.op for node in meta_graph.graph_def.node)
        for function in meta_graph.graph_def.library.function:
            ops.update(node.op for node in function.node_def)
    return ops


def xla_compiled_functions(version_dir):
    """The functions of the SavedModel marked for XLA compilation (`tf.function(jit_compile=True)`,
    the `_XlaMustCompile` attribute), sorted. Keras compiles some convolutions this way on CPU (a
    grouped convolution, or one whose input channels are unknown when it is traced)."""
    names = set()
    for meta_graph in saved_model_proto(version_dir).meta_graphs:
        for function in meta_graph.graph_def.library.function:
            attribute = function.attr.get("_XlaMustCompile")
            if attribute is not None and attribute.b:
                names.add(function.signature.name)
    return sorted(names)


def unservable_ops(version_dir):
    """{op or function: reason} for what a stock TF Serving build cannot run; empty when the export serves."""
    problems = {}
    for op in sorted(graph_ops(version_dir)):
        if op in PYTHON_OPS:
            problems[op] = "calls back into Python (tf.py_function / tf.numpy_function), which TF Serving cannot run"
        elif not hasattr(tf.raw_ops, op):
            problems[op] = "not a core TensorFlow op (a custom or add-on op library), absent from stock TF Serving"
    for name in xla_compiled_functions(version_dir):
        problems[f"function {name}"] = ("compiled by XLA (jit_compile=True): tensorflow_model_server runs XLA on CPU "
                                        "only with --xla_cpu_compilation_enabled, off by default, and otherwise "
                                        "fails the first request that reaches it")
    return problems


def method_names(version_dir):
    """{signature: method_name} of the SavedModel's serving meta graph."""
    for meta_graph in saved_model_proto(version_dir).meta_graphs:
        if "serve" in meta_graph.meta_info_def.tags:
            return {key: signature.method_name for key, signature in meta_graph.signature_def.items()
                    if not key.startswith("__")}
    raise ValueError(f"{version_dir} has no meta graph tagged 'serve'")


def replay_in_session(version_dir, logs):
    """Runs warm-up requests the way TF Serving does: the SavedModel loaded into a TensorFlow
    session by the graph-mode loader (restore op, then init op; the loader behind `saved_model_cli
    run` and, in C++, behind tensorflow_model_server), each signature's tensors fed and fetched by
    the names in its SignatureDef. Python objects of the export are never rebuilt, so a variable
    that only TensorFlow's Python loader can restore fails here as it would in the server.

    Returns [(signature, {output: numpy})]."""
    results = []
    with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as session:
        meta_graph = load_into_session(session, version_dir)
        for log in logs:
            request = log.predict_log.request
            key = request.model_spec.signature_name or "serving_default"
            if key not in meta_graph.signature_def:
                raise ValueError(f"warm-up request for signature {key!r}, which {version_dir} does not have")
            signature = meta_graph.signature_def[key]
            feed = {signature.inputs[name].name: tf.make_ndarray(proto) for name, proto in request.inputs.items()}
            fetch = {name: info.name for name, info in signature.outputs.items()}
            results.append((key, session.run(fetch, feed)))
    return results
