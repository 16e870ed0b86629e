"""zoo: a Keras/TensorFlow model zoo of generative models.

Importing this package does no work: no TensorFlow import, no data loading, no model building.
"""

__version__ = "0.1.0"
