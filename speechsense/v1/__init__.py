"""Generated code for the speechsense.v1 API (python protos/generate.py); do not edit."""
