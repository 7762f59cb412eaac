from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AudioEncoding(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AUDIO_ENCODING_UNSPECIFIED: _ClassVar[AudioEncoding]
    AUDIO_ENCODING_LINEAR16: _ClassVar[AudioEncoding]
    AUDIO_ENCODING_FLOAT32: _ClassVar[AudioEncoding]

class Segmentation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEGMENTATION_UNSPECIFIED: _ClassVar[Segmentation]
    SEGMENTATION_FIXED_WINDOWS: _ClassVar[Segmentation]
    SEGMENTATION_UTTERANCES: _ClassVar[Segmentation]

class Calibration(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CALIBRATION_UNSPECIFIED: _ClassVar[Calibration]
    CALIBRATION_NONE: _ClassVar[Calibration]
    CALIBRATION_PROFILE: _ClassVar[Calibration]
    CALIBRATION_SESSION: _ClassVar[Calibration]

class EndReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    END_REASON_UNSPECIFIED: _ClassVar[EndReason]
    END_REASON_CLIENT_CLOSED: _ClassVar[EndReason]
    END_REASON_SERVER_SHUTDOWN: _ClassVar[EndReason]
    END_REASON_IDLE_TIMEOUT: _ClassVar[EndReason]
AUDIO_ENCODING_UNSPECIFIED: AudioEncoding
AUDIO_ENCODING_LINEAR16: AudioEncoding
AUDIO_ENCODING_FLOAT32: AudioEncoding
SEGMENTATION_UNSPECIFIED: Segmentation
SEGMENTATION_FIXED_WINDOWS: Segmentation
SEGMENTATION_UTTERANCES: Segmentation
CALIBRATION_UNSPECIFIED: Calibration
CALIBRATION_NONE: Calibration
CALIBRATION_PROFILE: Calibration
CALIBRATION_SESSION: Calibration
END_REASON_UNSPECIFIED: EndReason
END_REASON_CLIENT_CLOSED: EndReason
END_REASON_SERVER_SHUTDOWN: EndReason
END_REASON_IDLE_TIMEOUT: EndReason

class AudioFormat(_message.Message):
    __slots__ = ("encoding", "sample_rate_hz", "channels")
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_HZ_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    encoding: AudioEncoding
    sample_rate_hz: int
    channels: int
    def __init__(self, encoding: _Optional[_Union[AudioEncoding, str]] = ..., sample_rate_hz: _Optional[int] = ..., channels: _Optional[int] = ...) -> None: ...

class WindowSpec(_message.Message):
    __slots__ = ("window_seconds", "hop_seconds")
    WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    HOP_SECONDS_FIELD_NUMBER: _ClassVar[int]
    window_seconds: float
    hop_seconds: float
    def __init__(self, window_seconds: _Optional[float] = ..., hop_seconds: _Optional[float] = ...) -> None: ...

class UtteranceSpec(_message.Message):
    __slots__ = ("min_speech_seconds", "closing_silence_seconds", "max_utterance_seconds")
    MIN_SPEECH_SECONDS_FIELD_NUMBER: _ClassVar[int]
    CLOSING_SILENCE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_UTTERANCE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    min_speech_seconds: float
    closing_silence_seconds: float
    max_utterance_seconds: float
    def __init__(self, min_speech_seconds: _Optional[float] = ..., closing_silence_seconds: _Optional[float] = ..., max_utterance_seconds: _Optional[float] = ...) -> None: ...

class SpeakerProfile(_message.Message):
    __slots__ = ("model_name", "model_version", "baseline", "speech_seconds", "window_count")
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    BASELINE_FIELD_NUMBER: _ClassVar[int]
    SPEECH_SECONDS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_COUNT_FIELD_NUMBER: _ClassVar[int]
    model_name: str
    model_version: str
    baseline: _containers.RepeatedScalarFieldContainer[float]
    speech_seconds: float
    window_count: int
    def __init__(self, model_name: _Optional[str] = ..., model_version: _Optional[str] = ..., baseline: _Optional[_Iterable[float]] = ..., speech_seconds: _Optional[float] = ..., window_count: _Optional[int] = ...) -> None: ...

class StreamConfig(_message.Message):
    __slots__ = ("format", "window", "session_tag", "segmentation", "utterance", "calibration", "profile")
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    SESSION_TAG_FIELD_NUMBER: _ClassVar[int]
    SEGMENTATION_FIELD_NUMBER: _ClassVar[int]
    UTTERANCE_FIELD_NUMBER: _ClassVar[int]
    CALIBRATION_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    format: AudioFormat
    window: WindowSpec
    session_tag: str
    segmentation: Segmentation
    utterance: UtteranceSpec
    calibration: Calibration
    profile: SpeakerProfile
    def __init__(self, format: _Optional[_Union[AudioFormat, _Mapping]] = ..., window: _Optional[_Union[WindowSpec, _Mapping]] = ..., session_tag: _Optional[str] = ..., segmentation: _Optional[_Union[Segmentation, str]] = ..., utterance: _Optional[_Union[UtteranceSpec, _Mapping]] = ..., calibration: _Optional[_Union[Calibration, str]] = ..., profile: _Optional[_Union[SpeakerProfile, _Mapping]] = ...) -> None: ...

class StreamEmotionsRequest(_message.Message):
    __slots__ = ("config", "audio")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    config: StreamConfig
    audio: bytes
    def __init__(self, config: _Optional[_Union[StreamConfig, _Mapping]] = ..., audio: _Optional[bytes] = ...) -> None: ...

class LabelScore(_message.Message):
    __slots__ = ("label", "score")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    label: str
    score: float
    def __init__(self, label: _Optional[str] = ..., score: _Optional[float] = ...) -> None: ...

class WindowResult(_message.Message):
    __slots__ = ("index", "start_seconds", "end_seconds", "scores", "top_label", "top_score", "is_speech")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    START_SECONDS_FIELD_NUMBER: _ClassVar[int]
    END_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    TOP_LABEL_FIELD_NUMBER: _ClassVar[int]
    TOP_SCORE_FIELD_NUMBER: _ClassVar[int]
    IS_SPEECH_FIELD_NUMBER: _ClassVar[int]
    index: int
    start_seconds: float
    end_seconds: float
    scores: _containers.RepeatedCompositeFieldContainer[LabelScore]
    top_label: str
    top_score: float
    is_speech: bool
    def __init__(self, index: _Optional[int] = ..., start_seconds: _Optional[float] = ..., end_seconds: _Optional[float] = ..., scores: _Optional[_Iterable[_Union[LabelScore, _Mapping]]] = ..., top_label: _Optional[str] = ..., top_score: _Optional[float] = ..., is_speech: _Optional[bool] = ...) -> None: ...

class UtteranceResult(_message.Message):
    __slots__ = ("index", "start_seconds", "end_seconds", "scores", "top_label", "top_score", "window_count", "cut_at_max_length")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    START_SECONDS_FIELD_NUMBER: _ClassVar[int]
    END_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    TOP_LABEL_FIELD_NUMBER: _ClassVar[int]
    TOP_SCORE_FIELD_NUMBER: _ClassVar[int]
    WINDOW_COUNT_FIELD_NUMBER: _ClassVar[int]
    CUT_AT_MAX_LENGTH_FIELD_NUMBER: _ClassVar[int]
    index: int
    start_seconds: float
    end_seconds: float
    scores: _containers.RepeatedCompositeFieldContainer[LabelScore]
    top_label: str
    top_score: float
    window_count: int
    cut_at_max_length: bool
    def __init__(self, index: _Optional[int] = ..., start_seconds: _Optional[float] = ..., end_seconds: _Optional[float] = ..., scores: _Optional[_Iterable[_Union[LabelScore, _Mapping]]] = ..., top_label: _Optional[str] = ..., top_score: _Optional[float] = ..., window_count: _Optional[int] = ..., cut_at_max_length: _Optional[bool] = ...) -> None: ...

class SessionSummary(_message.Message):
    __slots__ = ("mean_scores", "dominant_label", "top_label_counts", "audio_seconds", "windows_analyzed", "windows_skipped_silence", "end_reason", "utterances_analyzed", "calibration")
    class TopLabelCountsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    MEAN_SCORES_FIELD_NUMBER: _ClassVar[int]
    DOMINANT_LABEL_FIELD_NUMBER: _ClassVar[int]
    TOP_LABEL_COUNTS_FIELD_NUMBER: _ClassVar[int]
    AUDIO_SECONDS_FIELD_NUMBER: _ClassVar[int]
    WINDOWS_ANALYZED_FIELD_NUMBER: _ClassVar[int]
    WINDOWS_SKIPPED_SILENCE_FIELD_NUMBER: _ClassVar[int]
    END_REASON_FIELD_NUMBER: _ClassVar[int]
    UTTERANCES_ANALYZED_FIELD_NUMBER: _ClassVar[int]
    CALIBRATION_FIELD_NUMBER: _ClassVar[int]
    mean_scores: _containers.RepeatedCompositeFieldContainer[LabelScore]
    dominant_label: str
    top_label_counts: _containers.ScalarMap[str, int]
    audio_seconds: float
    windows_analyzed: int
    windows_skipped_silence: int
    end_reason: EndReason
    utterances_analyzed: int
    calibration: Calibration
    def __init__(self, mean_scores: _Optional[_Iterable[_Union[LabelScore, _Mapping]]] = ..., dominant_label: _Optional[str] = ..., top_label_counts: _Optional[_Mapping[str, int]] = ..., audio_seconds: _Optional[float] = ..., windows_analyzed: _Optional[int] = ..., windows_skipped_silence: _Optional[int] = ..., end_reason: _Optional[_Union[EndReason, str]] = ..., utterances_analyzed: _Optional[int] = ..., calibration: _Optional[_Union[Calibration, str]] = ...) -> None: ...

class StreamEmotionsResponse(_message.Message):
    __slots__ = ("session_tag", "window", "summary", "utterance")
    SESSION_TAG_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    UTTERANCE_FIELD_NUMBER: _ClassVar[int]
    session_tag: str
    window: WindowResult
    summary: SessionSummary
    utterance: UtteranceResult
    def __init__(self, session_tag: _Optional[str] = ..., window: _Optional[_Union[WindowResult, _Mapping]] = ..., summary: _Optional[_Union[SessionSummary, _Mapping]] = ..., utterance: _Optional[_Union[UtteranceResult, _Mapping]] = ...) -> None: ...

class RawAudio(_message.Message):
    __slots__ = ("format", "data")
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    format: AudioFormat
    data: bytes
    def __init__(self, format: _Optional[_Union[AudioFormat, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class AnalyzeClipRequest(_message.Message):
    __slots__ = ("raw", "encoded", "window", "session_tag", "segmentation", "utterance", "calibration", "profile")
    RAW_FIELD_NUMBER: _ClassVar[int]
    ENCODED_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    SESSION_TAG_FIELD_NUMBER: _ClassVar[int]
    SEGMENTATION_FIELD_NUMBER: _ClassVar[int]
    UTTERANCE_FIELD_NUMBER: _ClassVar[int]
    CALIBRATION_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    raw: RawAudio
    encoded: bytes
    window: WindowSpec
    session_tag: str
    segmentation: Segmentation
    utterance: UtteranceSpec
    calibration: Calibration
    profile: SpeakerProfile
    def __init__(self, raw: _Optional[_Union[RawAudio, _Mapping]] = ..., encoded: _Optional[bytes] = ..., window: _Optional[_Union[WindowSpec, _Mapping]] = ..., session_tag: _Optional[str] = ..., segmentation: _Optional[_Union[Segmentation, str]] = ..., utterance: _Optional[_Union[UtteranceSpec, _Mapping]] = ..., calibration: _Optional[_Union[Calibration, str]] = ..., profile: _Optional[_Union[SpeakerProfile, _Mapping]] = ...) -> None: ...

class AnalyzeClipResponse(_message.Message):
    __slots__ = ("session_tag", "windows", "summary", "utterances")
    SESSION_TAG_FIELD_NUMBER: _ClassVar[int]
    WINDOWS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    UTTERANCES_FIELD_NUMBER: _ClassVar[int]
    session_tag: str
    windows: _containers.RepeatedCompositeFieldContainer[WindowResult]
    summary: SessionSummary
    utterances: _containers.RepeatedCompositeFieldContainer[UtteranceResult]
    def __init__(self, session_tag: _Optional[str] = ..., windows: _Optional[_Iterable[_Union[WindowResult, _Mapping]]] = ..., summary: _Optional[_Union[SessionSummary, _Mapping]] = ..., utterances: _Optional[_Iterable[_Union[UtteranceResult, _Mapping]]] = ...) -> None: ...

class CreateSpeakerProfileRequest(_message.Message):
    __slots__ = ("raw", "encoded")
    RAW_FIELD_NUMBER: _ClassVar[int]
    ENCODED_FIELD_NUMBER: _ClassVar[int]
    raw: RawAudio
    encoded: bytes
    def __init__(self, raw: _Optional[_Union[RawAudio, _Mapping]] = ..., encoded: _Optional[bytes] = ...) -> None: ...

class CreateSpeakerProfileResponse(_message.Message):
    __slots__ = ("profile",)
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    profile: SpeakerProfile
    def __init__(self, profile: _Optional[_Union[SpeakerProfile, _Mapping]] = ...) -> None: ...

class GetModelInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ModelMetrics(_message.Message):
    __slots__ = ("random_accuracy", "random_uar", "speaker_uar_mean", "speaker_uar_std", "speaker_accuracy_mean")
    RANDOM_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    RANDOM_UAR_FIELD_NUMBER: _ClassVar[int]
    SPEAKER_UAR_MEAN_FIELD_NUMBER: _ClassVar[int]
    SPEAKER_UAR_STD_FIELD_NUMBER: _ClassVar[int]
    SPEAKER_ACCURACY_MEAN_FIELD_NUMBER: _ClassVar[int]
    random_accuracy: float
    random_uar: float
    speaker_uar_mean: float
    speaker_uar_std: float
    speaker_accuracy_mean: float
    def __init__(self, random_accuracy: _Optional[float] = ..., random_uar: _Optional[float] = ..., speaker_uar_mean: _Optional[float] = ..., speaker_uar_std: _Optional[float] = ..., speaker_accuracy_mean: _Optional[float] = ...) -> None: ...

class GetModelInfoResponse(_message.Message):
    __slots__ = ("labels", "sample_rate_hz", "window_seconds", "default_hop_seconds", "feature_set", "model_name", "model_version", "metrics", "feature_config_json", "metrics_json", "training_preset", "training_data", "model_family", "encoder_name", "encoder_license", "supports_calibration", "calibration_size", "min_profile_speech_seconds")
    LABELS_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_HZ_FIELD_NUMBER: _ClassVar[int]
    WINDOW_SECONDS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_HOP_SECONDS_FIELD_NUMBER: _ClassVar[int]
    FEATURE_SET_FIELD_NUMBER: _ClassVar[int]
    MODEL_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    FEATURE_CONFIG_JSON_FIELD_NUMBER: _ClassVar[int]
    METRICS_JSON_FIELD_NUMBER: _ClassVar[int]
    TRAINING_PRESET_FIELD_NUMBER: _ClassVar[int]
    TRAINING_DATA_FIELD_NUMBER: _ClassVar[int]
    MODEL_FAMILY_FIELD_NUMBER: _ClassVar[int]
    ENCODER_NAME_FIELD_NUMBER: _ClassVar[int]
    ENCODER_LICENSE_FIELD_NUMBER: _ClassVar[int]
    SUPPORTS_CALIBRATION_FIELD_NUMBER: _ClassVar[int]
    CALIBRATION_SIZE_FIELD_NUMBER: _ClassVar[int]
    MIN_PROFILE_SPEECH_SECONDS_FIELD_NUMBER: _ClassVar[int]
    labels: _containers.RepeatedScalarFieldContainer[str]
    sample_rate_hz: int
    window_seconds: float
    default_hop_seconds: float
    feature_set: str
    model_name: str
    model_version: str
    metrics: ModelMetrics
    feature_config_json: str
    metrics_json: str
    training_preset: str
    training_data: str
    model_family: str
    encoder_name: str
    encoder_license: str
    supports_calibration: bool
    calibration_size: int
    min_profile_speech_seconds: float
    def __init__(self, labels: _Optional[_Iterable[str]] = ..., sample_rate_hz: _Optional[int] = ..., window_seconds: _Optional[float] = ..., default_hop_seconds: _Optional[float] = ..., feature_set: _Optional[str] = ..., model_name: _Optional[str] = ..., model_version: _Optional[str] = ..., metrics: _Optional[_Union[ModelMetrics, _Mapping]] = ..., feature_config_json: _Optional[str] = ..., metrics_json: _Optional[str] = ..., training_preset: _Optional[str] = ..., training_data: _Optional[str] = ..., model_family: _Optional[str] = ..., encoder_name: _Optional[str] = ..., encoder_license: _Optional[str] = ..., supports_calibration: _Optional[bool] = ..., calibration_size: _Optional[int] = ..., min_profile_speech_seconds: _Optional[float] = ...) -> None: ...
