"""Prometheus metrics, on a registry per server so that tests can run several servers in one process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


class ServerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.open_streams = Gauge("speechsense_open_streams", "StreamEmotions calls in progress", registry=r)
        self.windows = Counter("speechsense_windows_analyzed", "Windows classified as speech", registry=r)
        self.skipped = Counter("speechsense_windows_skipped", "Windows skipped as silence", registry=r)
        self.batch_size = Histogram("speechsense_inference_batch_size", "Windows per inference call",
                                    buckets=(1, 2, 4, 8, 16, 32, 64, 128), registry=r)
        self.window_latency = Histogram(
            "speechsense_window_latency_seconds", "From a window's last sample received to its result sent",
            buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5), registry=r)
        self.errors = Counter("speechsense_errors", "Calls ended with an error status", ["code"], registry=r)
        self.audio_seconds = Counter("speechsense_audio_seconds", "Seconds of audio received", registry=r)
        # reason: idle, slow_reader, stream_limit, peer_limit, config_timeout, body_timeout
        self.refusals = Counter("speechsense_refusals", "Calls refused or ended by a server limit", ["reason"],
                                registry=r)

    def count_call(self, audio_seconds: float, analyzed: int, skipped: int) -> None:
        """A call's audio and windows, once it has sent its summary."""
        self.audio_seconds.inc(audio_seconds)
        self.windows.inc(analyzed - skipped)
        self.skipped.inc(skipped)

    def serve(self, port: int, host: str) -> None:
        """Expose /metrics over HTTP on port (a daemon thread); OSError names the metrics port."""
        try:
            start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            raise OSError(f"cannot serve metrics on {host}:{port} (--metrics-port): {exc.strerror or exc}") from None
