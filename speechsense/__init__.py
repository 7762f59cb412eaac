"""SpeechSense: speech emotion recognition. This package is the shared core.

Training, export and the server all import the same labels, audio decoding, window
preprocessing, features and model metadata from here, so that a model is served on
exactly what it was trained on.
"""

__version__ = "0.1.0"
