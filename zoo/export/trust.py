"""Which exports zoo runs: graphs made only of the ops zoo's own exports use.

A SavedModel is a program. `tf.saved_model.load` and TF Serving's loader run whatever its graph
and functions hold, file reads and writes (ReadFile, WriteFile, MatchingFiles, SaveV2) and calls
into Python (PyFunc, EagerPyFunc) included, so an export from elsewhere with a zoo_export.json can
do anything its author wrote. Before zoo runs an export it did not write in this process (zoo-sample,
zoo-eval, zoo-train --init_from, the playground, the stand-in server), `check` reads every op of the
SavedModel's graph and of every function in its library and refuses, in one line naming the first
op outside the allowlist and the function holding it, unless the user trusts the export.

The allowlist is zoo.export.allowed_ops, derived from the shipped exports (`python -m
zoo.export.trust exports` prints it; tests/test_export_trust.py re-derives it). The SavedModel's
own save and restore functions (those its saver_def calls, which write and read variables/) are
not checked against it but against the save and restore ops of the shipped exports, by function
name: they may be called only by the saver_def's own nodes, and restoring reads only the path the
loader passes. Everywhere else a save or restore op is refused like any other op outside the list.
"""

import os
import sys

from zoo.errors import UserError
from zoo.export import allowed_ops
from zoo.export.compat import saved_model_proto

GRAPH = "the SavedModel's graph"
# Versions `export_model` wrote in this process: zoo's own code made them, so they are not checked.
_written = set()


def mark_written(version_dir):
    _written.add(os.path.realpath(version_dir))


def _called(node):
    """Names of the functions a node calls (a call's `f`, a loop's body and cond, a branch...)."""
    for value in node.attr.values():
        if value.HasField("func"):
            yield value.func.name
        yield from (function.name for function in value.list.func)


def _node_name(tensor_name):
    return tensor_name.split(":")[0].lstrip("^")


def _saver_functions(meta_graph):
    """{"save" | "restore": (function name, main-graph node name)} of the saver_def's calls."""
    saver = meta_graph.saver_def
    nodes = {node.name: node for node in meta_graph.graph_def.node}
    found = {}
    for kind, tensor in (("save", saver.save_tensor_name), ("restore", saver.restore_op_name)):
        node = nodes.get(_node_name(tensor)) if tensor else None
        names = list(_called(node)) if node is not None else []
        if len(names) == 1:
            found[kind] = (names[0], node.name)
    return found


def _bodies(meta_graph):
    """(function name, nodes, input argument names) of the main graph (GRAPH) and of every function."""
    yield GRAPH, meta_graph.graph_def.node, []
    for function in meta_graph.graph_def.library.function:
        yield function.signature.name, function.node_def, [arg.name for arg in function.signature.input_arg]


def first_problem(version_dir, serving_ops=None, save_ops=None, restore_ops=None):
    """(op, function, why) of the first op the export may not run (function: its name, or GRAPH),
    or None when it passes."""
    allowed = {None: allowed_ops.SERVING_OPS if serving_ops is None else serving_ops,
               "save": allowed_ops.SAVE_OPS if save_ops is None else save_ops,
               "restore": allowed_ops.RESTORE_OPS if restore_ops is None else restore_ops}
    call = None  # A disallowed op that only calls a function (PartitionedCall) is named last: what it calls tells more.
    for meta_graph in saved_model_proto(version_dir).meta_graphs:
        saver = _saver_functions(meta_graph)
        kind_of = {function: kind for kind, (function, _) in saver.items()}
        caller_of = {node: function for function, node in saver.values()}  # Main-graph node -> saver function.
        filename = _node_name(meta_graph.saver_def.filename_tensor_name)
        for name, nodes, arguments in _bodies(meta_graph):
            kind = kind_of.get(name)
            for node in nodes:
                if node.op not in allowed[kind]:
                    problem = node.op, name, (f"is not one of the ops zoo's own exports use in their {kind} function"
                                              if kind else "is not one of the ops zoo's own exports use")
                    if not any(_called(node)):
                        return problem
                    call = call or problem
                for called in _called(node):
                    if called in kind_of and not (name == GRAPH and caller_of.get(node.name) == called):
                        return node.op, name, (f"calls the SavedModel's {kind_of[called]} function {called}, which "
                                               f"only its saver may call")
                restoring = (kind == "restore" and node.op == "RestoreV2") or (
                    name == GRAPH and kind_of.get(caller_of.get(node.name)) == "restore")
                source = arguments[0] if name != GRAPH and arguments else filename
                if restoring and (not node.input or _node_name(node.input[0]) != source):
                    return node.op, name, "restores from another path than the one the loader passes"
    return call


def check(version_dir, trust=False):
    """Raises UserError unless the export at `version_dir` may run (see the module docstring):
    it passes the allowlist, was written by this process, or `trust` is set (--trust_export)."""
    if trust or os.path.realpath(version_dir) in _written:
        return
    problem = first_problem(version_dir)
    if problem is not None:
        op, function, why = problem
        where = "in the SavedModel's graph" if function == GRAPH else f"in function {function}"
        raise UserError(f"refusing to run {version_dir}: op {op} {where} {why} (zoo/export/allowed_ops.py; no file "
                        f"access, Python call or other op outside them runs from an export zoo did not write); pass "
                        f"--trust_export to run it anyway if you trust where it came from")


def load(version_dir, trust=False):
    """`tf.saved_model.load(version_dir)` after `check`."""
    import tensorflow as tf

    check(version_dir, trust)
    return tf.saved_model.load(version_dir)


def derive(version_dirs):
    """(serving ops, save ops, restore ops) the given exports use: the allowlist they define."""
    found = {None: set(), "save": set(), "restore": set()}
    for version_dir in version_dirs:
        for meta_graph in saved_model_proto(version_dir).meta_graphs:
            kind_of = {function: kind for kind, (function, _) in _saver_functions(meta_graph).items()}
            for name, nodes, _ in _bodies(meta_graph):
                found[kind_of.get(name)].update(node.op for node in nodes)
    return frozenset(found[None]), frozenset(found["save"]), frozenset(found["restore"])


def shipped_versions(export_root):
    """Every version directory under `export_root` (<name>/<version>/saved_model.pb)."""
    from zoo.export.saved_model import list_versions

    found = []
    for name in sorted(os.listdir(export_root)):
        model_dir = os.path.join(export_root, name)
        found.extend(os.path.join(model_dir, str(version)) for version in list_versions(model_dir)
                     if os.path.isfile(os.path.join(model_dir, str(version), "saved_model.pb")))
    return found


def main(argv):
    """`python -m zoo.export.trust EXPORT_ROOT`: prints the allowlist EXPORT_ROOT's exports define."""
    if len(argv) != 2:
        sys.exit("usage: python -m zoo.export.trust EXPORT_ROOT")
    versions = shipped_versions(argv[1])
    for name, ops in zip(("SHIPPED_SERVING_OPS", "SAVE_OPS", "RESTORE_OPS"), derive(versions)):
        print(f"{name} = frozenset({{")
        line = "   "
        for op in sorted(ops):
            if len(line) + len(op) + 4 > 110:
                print(line)
                line = "   "
            line += f" {op!r},"
        print(line + "\n})")
    print(f"# from {len(versions)} exports under {argv[1]}")


if __name__ == "__main__":
    main(sys.argv)
