"""Token authentication and TLS (plain and mutual), over real sockets."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from synth import speech_like

from speechsense.server.auth import read_tokens
from speechsense.v1 import emotion_pb2 as pb
from speechsense.v1 import emotion_pb2_grpc

TOKEN = "s3cret-token"


def clip_request() -> pb.AnalyzeClipRequest:
    return pb.AnalyzeClipRequest(raw=pb.RawAudio(
        format=pb.AudioFormat(encoding=pb.AUDIO_ENCODING_FLOAT32, sample_rate_hz=16000),
        data=speech_like(3.0).astype("<f4").tobytes()))


def stream_requests():
    yield pb.StreamEmotionsRequest(config=pb.StreamConfig(format=pb.AudioFormat(
        encoding=pb.AUDIO_ENCODING_LINEAR16, sample_rate_hz=16000)))
    yield pb.StreamEmotionsRequest(audio=(speech_like(3.0) * 32767).astype("<i2").tobytes())


def test_token_required_and_costs_no_processing(server_factory):
    server = server_factory(tokens=(TOKEN, "other"))
    metrics = server.server.metrics.registry
    with grpc.insecure_channel(server.address) as channel:
        stub = emotion_pb2_grpc.EmotionServiceStub(channel)
        for metadata in ((), (("authorization", "Bearer wrong"),), (("authorization", TOKEN),)):
            with pytest.raises(grpc.RpcError) as err:
                stub.AnalyzeClip(clip_request(), metadata=metadata, timeout=10)
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
            with pytest.raises(grpc.RpcError) as err:
                list(stub.StreamEmotions(stream_requests(), metadata=metadata, timeout=10))
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert metrics.get_sample_value("speechsense_audio_seconds_total") == 0
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        good = (("authorization", f"Bearer {TOKEN}"),)
        assert len(stub.AnalyzeClip(clip_request(), metadata=good, timeout=10).windows) == 1
        assert list(stub.StreamEmotions(stream_requests(), metadata=good, timeout=10))[-1].summary.windows_analyzed == 1
        assert metrics.get_sample_value("speechsense_audio_seconds_total") == pytest.approx(6.0)


def test_health_and_reflection_stay_open_with_tokens(server_factory):
    """As the README says: probes and grpcurl (which needs reflection to form a health check) need no token."""
    from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

    server = server_factory(tokens=(TOKEN,))
    with grpc.insecure_channel(server.address) as channel:
        services = ProtoReflectionDescriptorDatabase(channel).get_services()
        assert {"speechsense.v1.EmotionService", "grpc.health.v1.Health"} <= set(services)
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.RpcError) as err:
            emotion_pb2_grpc.EmotionServiceStub(channel).GetModelInfo(pb.GetModelInfoRequest(), timeout=5)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_read_tokens(tmp_path):
    f = tmp_path / "tokens"
    f.write_text("# team tokens\nalpha\n\n beta  # ci\n")
    assert read_tokens(f, "gamma, ,delta") == ("alpha", "beta", "gamma", "delta")


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    """A CA, a server certificate for localhost/127.0.0.1, and a client certificate, all made here."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    d = tmp_path_factory.mktemp("pki")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=speechsense-test-ca", cwd=d)
    for name in ("server", "client"):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN={name}", cwd=d)
        (d / f"{name}.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=d)
    return d


def info(address: str, creds: grpc.ChannelCredentials) -> pb.GetModelInfoResponse:
    with grpc.secure_channel(address, creds, options=[("grpc.ssl_target_name_override", "localhost")]) as ch:
        return emotion_pb2_grpc.EmotionServiceStub(ch).GetModelInfo(pb.GetModelInfoRequest(), timeout=10)


def test_a_tls_server_serves_tls_and_refuses_plaintext(server_factory, pki):
    server = server_factory(tls_cert=pki / "server.pem", tls_key=pki / "server.key")
    ca = (pki / "ca.pem").read_bytes()
    assert len(info(server.address, grpc.ssl_channel_credentials(ca)).labels) == 8
    with grpc.insecure_channel(server.address) as ch, pytest.raises(grpc.RpcError) as err:
        emotion_pb2_grpc.EmotionServiceStub(ch).GetModelInfo(pb.GetModelInfoRequest(), timeout=5)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


def test_mutual_tls_refuses_a_client_without_a_certificate(server_factory, pki):
    server = server_factory(tls_cert=pki / "server.pem", tls_key=pki / "server.key", tls_client_ca=pki / "ca.pem")
    ca = (pki / "ca.pem").read_bytes()
    with pytest.raises(grpc.RpcError) as err:
        info(server.address, grpc.ssl_channel_credentials(ca))
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    creds = grpc.ssl_channel_credentials(ca, (pki / "client.key").read_bytes(), (pki / "client.pem").read_bytes())
    assert len(info(server.address, creds).labels) == 8
