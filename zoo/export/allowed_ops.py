"""The ops zoo's own exports use: what zoo.export.trust lets an export it did not write run.

Derived from every shipped export under exports/ (15 versions when written) with

    python -m zoo.export.trust exports

which reads each SavedModel's graph and every function in its library (nested loop bodies and cond
branches included) and sorts their ops into those
of the SavedModel's own save and restore functions (the two its saver_def calls) and all others.
tests/test_export_trust.py re-derives the sets from the shipped exports and fails when they
differ, so a shipped export with a new op updates this file (rerun the command above), and checks
that every registered model's signatures, traced as the exporter wraps them today, use only
SERVING_OPS (so a user's fresh export of any model is one zoo runs).
"""

SHIPPED_SERVING_OPS = frozenset({
    'AddV2', 'All', 'Any', 'Assert', 'BatchMatMulV2', 'BiasAdd', 'Bitcast', 'BitwiseAnd', 'BitwiseOr',
    'BitwiseXor', 'Cast', 'ConcatV2', 'Const', 'Conv2D', 'Conv2DBackpropInput', 'Cos', 'Cumsum', 'DecodeRaw',
    'Einsum', 'EnsureShape', 'Equal', 'Exp', 'Expm1', 'Fill', 'FloorDiv', 'GatherV2', 'Greater',
    'GreaterEqual', 'Identity', 'IdentityN', 'If', 'IsFinite', 'LeakyRelu', 'LeftShift', 'Less', 'LessEqual',
    'Log', 'LogicalAnd', 'LogicalNot', 'LogicalOr', 'MatMul', 'MatrixBandPart', 'Max', 'Maximum', 'Mean',
    'Minimum', 'Mul', 'Neg', 'NoOp', 'OneHot', 'Pack', 'Pad', 'Placeholder', 'Pow', 'Prod', 'Range',
    'ReadVariableOp', 'RealDiv', 'ReduceJoin', 'Relu', 'Reshape', 'ResizeNearestNeighbor', 'RightShift',
    'Round', 'Rsqrt', 'SelectV2', 'Shape', 'Sigmoid', 'Sin', 'Softmax', 'Softplus',
    'SparseSoftmaxCrossEntropyWithLogits', 'Split', 'Sqrt', 'Square', 'SquaredDifference', 'Squeeze',
    'StatefulPartitionedCall', 'StatelessIf', 'StatelessRandomGetKeyCounter', 'StatelessRandomNormalV2',
    'StatelessRandomUniformIntV2', 'StatelessRandomUniformV2', 'StatelessWhile', 'StopGradient',
    'StridedSlice', 'StringJoin', 'StringLength', 'Sub', 'Sum', 'Tanh', 'TensorListFromTensor',
    'TensorListGetItem', 'TensorListReserve', 'TensorListSetItem', 'TensorListStack', 'TensorScatterUpdate',
    'TopKV2', 'Transpose', 'Unpack', 'VarHandleOp', 'Where', 'While', 'ZerosLike',
})
SAVE_OPS = frozenset({
    'Const', 'DisableCopyOnRead', 'Identity', 'MergeV2Checkpoints', 'NoOp', 'Pack', 'ReadVariableOp',
    'SaveV2', 'Select', 'ShardedFilename', 'StaticRegexFullMatch', 'StringJoin',
})
RESTORE_OPS = frozenset({
    'AssignVariableOp', 'Const', 'Identity', 'NoOp', 'RestoreV2',
})
# Ops zoo's exports use that no shipped export has, each with why (tests/test_export_trust.py traces
# every registered model's signatures, under op determinism as the test suite runs, against SERVING_OPS).
ADDED_SERVING_OPS = frozenset({
    # Sparse softmax cross-entropy (pixelcnn's log_likelihood) under tf.config.experimental.
    # enable_op_determinism(): TensorFlow composes it from these instead of
    # SparseSoftmaxCrossEntropyWithLogits, whose kernel is not deterministic.
    'BroadcastTo', 'LogSoftmax', 'Select',
})
# Everywhere outside the saver's two functions.
SERVING_OPS = SHIPPED_SERVING_OPS | ADDED_SERVING_OPS
