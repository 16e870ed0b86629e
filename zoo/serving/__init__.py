"""Serving exports with TF Serving: clients for its gRPC and REST APIs, and local stand-in servers.

    from zoo import serving
    with serving.connect("localhost:8500", "dcgan_fashion_mnist") as client:          # gRPC
        images = client.predict({"seed": [0, 1, 2]})["images"]                      # uint8 numpy
    client = serving.connect("localhost:8501", "cgan_fashion_mnist", "rest", label="stable")
    images = client.predict({"seed": [0, 1], "label": [3, 3]}, format="row")["images"]

- `client`: `GrpcClient` and `RestClient` (standard library only) with `predict`, `metadata` and
  `status`, and `connect` to pick one. Every failure is a one-line `ServingError` (a UserError)
  naming the server, model and version or label.
- `local_server`: `LocalModels`, `start_grpc_server` and `start_rest_server` answer TF Serving's
  APIs from the SavedModel loader (models.config, version policies and labels included), for tests
  and benchmarks where tensorflow_model_server cannot run.

Importing this package imports neither TensorFlow nor gRPC: the local servers' names load their
module (and TensorFlow) on first use, and GrpcClient imports its dependencies when it first calls.
"""

from zoo.serving.client import (
    DEFAULT_TIMEOUT,
    GrpcClient,
    RestClient,
    ServingError,
    connect,
)

_LOCAL_SERVER_NAMES = ("LocalModels", "LocalServer", "RestApi", "StatusError", "start_grpc_server",
                       "start_rest_server")

__all__ = ["DEFAULT_TIMEOUT", "GrpcClient", "LocalModels", "LocalServer", "RestApi", "RestClient", "ServingError",
           "StatusError", "connect", "start_grpc_server", "start_rest_server"]


def __getattr__(name):
    if name in _LOCAL_SERVER_NAMES:
        from zoo.serving import local_server

        return getattr(local_server, name)
    raise AttributeError(f"module 'zoo.serving' has no attribute {name!r}")
