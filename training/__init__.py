"""SpeechSense training."""
