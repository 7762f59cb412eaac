"""SpeechSense client."""
