"""SpeechSense: speech emotion recognition. This package is the shared core.

Training, export and the server all import the same labels, audio decoding, window
preprocessing, features and model metadata from here, so that a model is served on
exactly what it was trained on. `from speechsense import Client` is the Python client
(speechsense/client/library.py), imported only when asked for: the core itself uses none of it.
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    if name == "Client":
        from speechsense.client.library import Client

        return Client
    raise AttributeError(f"module 'speechsense' has no attribute {name!r}")
