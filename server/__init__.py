"""SpeechSense server."""
