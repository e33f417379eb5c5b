from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PushRequest(_message.Message):
    __slots__ = ("series", "samples", "metadata")
    SERIES_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    series: bytes
    samples: bytes
    metadata: _containers.RepeatedCompositeFieldContainer[MetricMetadata]
    def __init__(self, series: _Optional[bytes] = ..., samples: _Optional[bytes] = ..., metadata: _Optional[_Iterable[_Union[MetricMetadata, _Mapping]]] = ...) -> None: ...

class MetricMetadata(_message.Message):
    __slots__ = ("metric_family_name", "type", "help", "unit")
    METRIC_FAMILY_NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    HELP_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    metric_family_name: str
    type: str
    help: str
    unit: str
    def __init__(self, metric_family_name: _Optional[str] = ..., type: _Optional[str] = ..., help: _Optional[str] = ..., unit: _Optional[str] = ...) -> None: ...

class PushResponse(_message.Message):
    __slots__ = ("accepted", "ignored", "rejected_by_code", "has_rejection", "rejection_code", "rejection_series_index", "rejection_timestamp")
    class RejectedByCodeEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: int
        def __init__(self, key: _Optional[int] = ..., value: _Optional[int] = ...) -> None: ...
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    IGNORED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_BY_CODE_FIELD_NUMBER: _ClassVar[int]
    HAS_REJECTION_FIELD_NUMBER: _ClassVar[int]
    REJECTION_CODE_FIELD_NUMBER: _ClassVar[int]
    REJECTION_SERIES_INDEX_FIELD_NUMBER: _ClassVar[int]
    REJECTION_TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    ignored: int
    rejected_by_code: _containers.ScalarMap[int, int]
    has_rejection: bool
    rejection_code: int
    rejection_series_index: int
    rejection_timestamp: int
    def __init__(self, accepted: _Optional[int] = ..., ignored: _Optional[int] = ..., rejected_by_code: _Optional[_Mapping[int, int]] = ..., has_rejection: _Optional[bool] = ..., rejection_code: _Optional[int] = ..., rejection_series_index: _Optional[int] = ..., rejection_timestamp: _Optional[int] = ...) -> None: ...
