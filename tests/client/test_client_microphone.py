"""The microphone path through a fake PyAudio at the capture boundary (no sound card exists here)."""

from __future__ import annotations

import io

import numpy as np
import pytest

from speechsense.client.main import print_devices, run_client
from speechsense.client.sources import MicrophoneSource, list_input_devices


def test_microphone_streams_end_to_end(server_address, fake_pyaudio, client_options, speech_clip, clip_windows):
    module = fake_pyaudio(pace=0.25)  # four times faster than real time
    out, err = io.StringIO(), io.StringIO()
    result = run_client(client_options(server_address), out, err, pyaudio_module=module)
    samples, rate = speech_clip
    assert [w.index for w in result.windows] == list(range(clip_windows(result.plan)))
    assert result.summary.source == "server"
    assert result.summary.audio_seconds == pytest.approx(len(samples) / rate, abs=0.11)
    (stream,) = module.streams
    assert stream.kwargs["rate"] == 16_000 and stream.kwargs["input"] is True
    assert stream.frames == 1_600
    assert stream.closed and module.terminated == 1
    assert "session summary" in out.getvalue()


def test_duration_stops_the_microphone(server_address, fake_pyaudio, client_options):
    endless = np.tile(np.random.default_rng(0).uniform(-0.3, 0.3, 16_000).astype(np.float32), 60)
    module = fake_pyaudio(endless, pace=0.1)
    result = run_client(client_options(server_address, duration=4.0, json=True), io.StringIO(), io.StringIO(),
                        pyaudio_module=module)
    assert result.summary.audio_seconds == pytest.approx(4.0)
    assert [w.index for w in result.windows] == [0, 1]  # 3 s windows at a 1 s hop over 4 s
    assert module.streams[0].closed


def test_callback_only_queues_and_overflow_is_reported(fake_pyaudio, speech_clip):
    module = fake_pyaudio(synchronous=True, overflow_at=(3,))  # delivers the whole clip before we read
    messages: list[str] = []
    with MicrophoneSource(module, queue_seconds=0.5, report=messages.append) as mic:
        chunks = list(mic)
    assert len(chunks) == 5  # the queue held 0.5 s; the rest could not be queued
    assert b"".join(chunks) == module.pcm[:5 * 3_200]
    lost = len(speech_clip[0]) / 16_000 - 0.5
    assert mic.dropped_seconds == pytest.approx(lost, abs=1e-3)
    assert any("dropped" in m and f"{lost:.2f} s" in m for m in messages)
    assert any("input overflow" in m for m in messages)


def test_callback_returns_continue_and_copies(fake_pyaudio):
    module = fake_pyaudio()
    mic = MicrophoneSource(module)
    data = bytearray(b"\x01\x00" * 10)
    assert mic._callback(data, 10, {}, 0) == (None, module.paContinue)
    data[:] = b"\x00" * 20  # PortAudio reuses its buffer: the queued chunk must be a copy
    assert mic._queue.get_nowait() == b"\x01\x00" * 10


def test_list_devices_shows_inputs_only(fake_pyaudio):
    module = fake_pyaudio()
    assert [d.name for d in list_input_devices(module)] == ["fake microphone"]
    from rich.console import Console

    console = Console(file=io.StringIO(), width=100)
    assert print_devices(module, console) == 0
    assert "1  fake microphone  (1 ch, default 16000 Hz)" in console.file.getvalue()


def test_bad_device_fails_cleanly(fake_pyaudio):
    module = fake_pyaudio()
    with pytest.raises(OSError, match="cannot open capture device 7 .*Invalid input device"):
        MicrophoneSource(module, device=7).open()
    assert module.terminated == 1


def test_iterating_unopened_microphone_is_an_error(fake_pyaudio):
    with pytest.raises(RuntimeError, match="context manager"):
        next(iter(MicrophoneSource(fake_pyaudio())))
