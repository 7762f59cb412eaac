"""SpeechSense export."""
